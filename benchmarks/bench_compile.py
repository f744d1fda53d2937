"""Benchmark: ``torch.compile`` of the forward pass and loss against eager, the paper's step.

N 10 all-to-all, Gaussian fields d 0.1 on 28×28 inputs, the paper's MLP (1024-512-256 → 256),
B 128, CLoSeR τ 10, SlicedNAdam (the optimiser step stays eager). The compiled function is
``x -> objective(ensemble(x), None, graph)`` (inductor, default mode); backward runs through
the compiled graph. Eager and compiled steps alternate within each repeat; medians over
repeats, and the compile time of the first call.

Usage::

    python benchmarks/bench_compile.py --repeats 5
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(0)
    data = from_arrays(torch.rand(256, 28, 28, generator=generator), None,
                       torch.rand(16, 28, 28, generator=generator), None)
    config = RunConfig(dataset="fashion-mnist")
    modality = VisionModality()
    graph = modality.graph(config, data)
    ensemble = Ensemble(graph, modality.encoder_factory(config, graph), seed=0).to(device)
    objective = CLoSeRObjective(config.tau).to(device)
    optimizer = SlicedNAdam(list(ensemble.parameters()))
    x = data.x_train[:config.batch_size].to(device)

    def loss_of(batch: torch.Tensor) -> torch.Tensor:
        return objective(ensemble(batch), None, ensemble.graph)

    compiled = torch.compile(loss_of)

    def step(fn) -> None:  # noqa: ANN001
        loss = fn(x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    tick = time.perf_counter()
    step(compiled)
    compile_seconds = time.perf_counter() - tick
    seconds: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(args.repeats):
        for name, fn in (("eager", loss_of), ("compiled", compiled)):
            step(fn)
            tick = time.perf_counter()
            for _ in range(args.steps):
                step(fn)
            seconds[name].append((time.perf_counter() - tick) / args.steps)
    eager, fast = statistics.median(seconds["eager"]), statistics.median(seconds["compiled"])
    print(f"torch {torch.__version__}, {args.device}, {torch.get_num_threads()} threads, "
          f"{args.repeats} repeats x {args.steps} steps; first compiled call "
          f"{compile_seconds:.1f} s")
    print("| step | ms/step | samples/s |\n|---|---|---|")
    print(f"| eager | {eager * 1e3:.1f} | {config.batch_size / eager:.0f} |")
    print(f"| torch.compile | {fast * 1e3:.1f} | {config.batch_size / fast:.0f} |")
    print(f"compiled speed-up: {eager / fast:.2f}x")


if __name__ == "__main__":
    main()
