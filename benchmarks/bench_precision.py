"""Benchmark: one training step in bf16 autocast against fp32, the paper's configuration.

N 10 all-to-all, Gaussian fields d 0.1 on 28×28 images (78 inputs per node), the paper's MLP
(1024-512-256 → 256), batch 128, CLoSeR τ 10, SlicedNAdam: what ``graphens train --dataset
fashion-mnist`` trains, on random images (speed does not depend on the pixels). A step is the
forward pass under ``torch.autocast(bfloat16)`` when ``--precision bf16`` would use it, the fp32
loss, backward and the optimiser step. The two precisions alternate within each repeat so drift
hits both alike; medians over repeats, and the ratio fp32 / bf16.

Usage::

    python benchmarks/bench_precision.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from graphens.config import RunConfig
from graphens.data import from_arrays
from graphens.ensemble import Ensemble
from graphens.modality import VisionModality
from graphens.objectives import CLoSeRObjective
from graphens.optim import SlicedNAdam
from graphens.train import bf16_supported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per precision")
    parser.add_argument("--steps", type=int, default=10, help="steps per timed round")
    args = parser.parse_args()
    if not bf16_supported(torch.device("cpu")):
        raise SystemExit("this CPU has no native bfloat16 (AVX512-BF16/AMX): nothing to compare")
    generator = torch.Generator().manual_seed(0)
    data = from_arrays(torch.rand(256, 28, 28, generator=generator), None,
                       torch.rand(16, 28, 28, generator=generator), None)
    config = RunConfig(dataset="fashion-mnist")  # the paper's settings
    modality = VisionModality()
    graph = modality.graph(config, data)
    ensemble = Ensemble(graph, modality.encoder_factory(config, graph), seed=0)
    objective = CLoSeRObjective(config.tau)
    optimizer = SlicedNAdam(list(ensemble.parameters()), lr=1e-3, eps=1e-7)
    x = data.x_train[:config.batch_size]

    def step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = objective(ensemble(x), None, ensemble.graph)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    seconds: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.repeats):
        for bf16 in (False, True):
            for _ in range(2):  # warm-up
                step(bf16)
            tick = time.perf_counter()
            for _ in range(args.steps):
                step(bf16)
            seconds[bf16].append((time.perf_counter() - tick) / args.steps)
    fp32, bf16 = statistics.median(seconds[False]), statistics.median(seconds[True])
    batch = config.batch_size
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"K={graph.field_width} inputs per node, {args.repeats} repeats x {args.steps} steps")
    print("| precision | ms/step | samples/s |\n|---|---|---|")
    print(f"| fp32 | {fp32 * 1e3:.1f} | {batch / fp32:.0f} |")
    print(f"| bf16 | {bf16 * 1e3:.1f} | {batch / bf16:.0f} |")
    print(f"bf16 speed-up: {fp32 / bf16:.2f}x (target >= 1.7x)")


if __name__ == "__main__":
    main()
