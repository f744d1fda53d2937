"""Benchmark: ensembles trained as one fleet (one PyG batch) against one by one.

Two measurements, each a ratio taken side by side in one process:

``--mode steps``: member-samples per second of the training step (forward, loss, backward,
SlicedNAdam) for a fleet of K paper-sized ensembles (N 10, the paper's MLP 1024-512-256 → 256,
Gaussian fields d 0.1 on 28×28 inputs, B 128; members alternate directed ring, G_N^20 and
all-to-all) against K = 1, for each precision asked. The K values alternate within each repeat;
medians over repeats. This is the GPU check (``--device cuda --fleets 1 16 64 --precisions fp32
bf16``).

``--mode trials``: trials per hour of the sparse-vs-dense spec's trainable graphs
(``benchmarks/specs/sparse_vs_dense.toml``, one seed: 15 graphs; the untrained baseline does not
train and is left out) as one fleet against the same 15 runs one by one, end to end (graph,
training, decoding), at a reduced budget (``--epochs``, ``--max-train``); training and decoding
seconds are reported apart, so the ratio at the spec's own budget can be read off.

Usage::

    python benchmarks/bench_fleet.py --mode steps --fleets 1 16 --repeats 5
    python benchmarks/bench_fleet.py --mode trials --epochs 1 --max-train 10000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import environment, sync  # noqa: E402

from graphens.config import RunConfig  # noqa: E402
from graphens.data import from_arrays  # noqa: E402
from graphens.ensemble import Ensemble  # noqa: E402
from graphens.fleet import STOP_GRADIENT_CODES, FleetObjective  # noqa: E402
from graphens.graph import batch_graphs  # noqa: E402
from graphens.modality import VisionModality  # noqa: E402
from graphens.node_bank import node_seed  # noqa: E402
from graphens.optim import SlicedNAdam  # noqa: E402

TOPOLOGIES = [("directed-ring", {"laterals": 2}, "teacher"), ("gnk", {"k": 20}, "teacher"),
              ("all-to-all", {}, None)]


def fleet_step(members: int, device: torch.device, data, first: int = 0):  # noqa: ANN001, ANN202
    """A training-step closure for a fleet of ``members`` paper-sized ensembles, cycling
    through :data:`TOPOLOGIES` from entry ``first``."""
    modality = VisionModality()
    cycle = TOPOLOGIES[first:] + TOPOLOGIES * members
    configs = [RunConfig(dataset="fashion-mnist", topology=name, topology_params=params,
                         stop_gradient=stop)
               for name, params, stop in cycle[:members]]
    graphs = [modality.graph(c, data) for c in configs]
    for graph, config in zip(graphs, configs, strict=True):
        edges = graph.edge_index.shape[1]
        graph.edge_tau = torch.full((edges,), config.tau)
        graph.edge_stop_gradient = torch.full((edges,), STOP_GRADIENT_CODES[config.stop_gradient])
    union = batch_graphs(graphs)
    seeds = [node_seed(0, i) for g in graphs for i in range(g.num_nodes)]
    ensemble = Ensemble(union, modality.encoder_factory(configs[0], graphs[0]),
                        node_seeds=seeds).to(device)
    objective = FleetObjective(ensemble.graph, members).to(device)
    optimizer = SlicedNAdam(list(ensemble.parameters()))
    x = data.x_train[:configs[0].batch_size].to(device)

    def step(bf16: bool) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = objective(ensemble(x), None, ensemble.graph)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step, configs[0].batch_size


def steps(args: argparse.Namespace) -> None:
    """Fleets against the sum of their members' solo steps (each topology timed alone, with
    its own loss path: all-to-all takes the Gram GEMM alone, the per-edge path in a fleet)."""
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(0)
    data = from_arrays(torch.rand(256, 28, 28, generator=generator), None,
                       torch.rand(16, 28, 28, generator=generator), None)
    runs = {("solo", t): fleet_step(1, device, data, first=t) for t in range(len(TOPOLOGIES))}
    runs.update({("fleet", k): fleet_step(k, device, data) for k in args.fleets if k > 1})
    seconds: dict[tuple, list[float]] = {(key, p): [] for key in runs for p in args.precisions}
    for _ in range(args.repeats):
        for key, (step, _) in runs.items():
            for precision in args.precisions:
                for _ in range(2):
                    step(precision == "bf16")
                sync(device)
                tick = time.perf_counter()
                for _ in range(args.steps):
                    step(precision == "bf16")
                sync(device)
                seconds[(key, precision)].append((time.perf_counter() - tick) / args.steps)
    env = environment(device)
    batch = runs[("solo", 0)][1]
    print(f"{env.get('gpu', env['processor'])}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {args.repeats} repeats x {args.steps} steps")
    print("| K | precision | fleet ms/step | one by one ms (sum of solo steps) | "
          "member-samples/s fleet | speed-up |\n|---|---|---|---|---|---|")
    for precision in args.precisions:
        solo = [statistics.median(seconds[(("solo", t), precision)])
                for t in range(len(TOPOLOGIES))]
        for k in args.fleets:
            alone = sum(solo[i % len(TOPOLOGIES)] for i in range(k))
            fleet = alone if k == 1 else statistics.median(seconds[(("fleet", k), precision)])
            print(f"| {k} | {precision} | {fleet * 1e3:.1f} | {alone * 1e3:.1f} | "
                  f"{k * batch / fleet:.0f} | {alone / fleet:.2f}x |")


def trials(args: argparse.Namespace) -> None:
    from graphens import run
    from graphens.data import load_dataset
    from graphens.fleet import pack, run_fleet
    from graphens.sweep.executors import subset_dataset
    from graphens.sweep.spec import load_spec

    spec = load_spec(HERE / "specs" / "sparse_vs_dense.toml")
    configs = []
    for trial in spec.trials:
        fields = {**trial.record()["config"], "epochs": args.epochs}
        config = RunConfig(**fields)
        if config.seed == spec.trials[0].config.seed and config.baseline == "closer":
            configs.append(config)
    assert len(pack(configs)) == 1, "the spec's trainable graphs should form one fleet"
    data = subset_dataset(load_dataset("fashion-mnist"), args.max_train, None)
    out = Path(args.out)

    tick = time.perf_counter()
    packed = run_fleet(configs, [out / f"fleet/{k}" for k in range(len(configs))],
                       overwrite=True, progress=False, dataset=data)
    fleet_total = time.perf_counter() - tick
    fleet_train = packed[0]["train_seconds"]
    tick = time.perf_counter()
    alone = [run(c, out / f"solo/{k}", overwrite=True, progress=False, dataset=data)
             for k, c in enumerate(configs)]
    solo_total = time.perf_counter() - tick
    solo_train = sum(r["train_seconds"] for r in alone)
    n = len(configs)
    print(f"{n} trials (sparse_vs_dense, seed {configs[0].seed}), {args.epochs} epoch(s) on "
          f"{len(data.x_train)} images; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print("| | one fleet | one by one | ratio |\n|---|---|---|---|")
    print(f"| training s | {fleet_train:.1f} | {solo_train:.1f} | "
          f"{solo_train / fleet_train:.2f}x |")
    print(f"| other s (graph, decoding, files) | {fleet_total - fleet_train:.1f} | "
          f"{solo_total - solo_train:.1f} | "
          f"{(solo_total - solo_train) / (fleet_total - fleet_train):.2f}x |")
    print(f"| trials per hour | {n * 3600 / fleet_total:.1f} | {n * 3600 / solo_total:.1f} | "
          f"{solo_total / fleet_total:.2f}x |")
    gap = max(abs(a["single_accuracy"] - b["single_accuracy"])
              for a, b in zip(packed, alone, strict=True))
    print(f"largest single-node accuracy difference fleet vs solo: {gap:.4f} "
          "(dropout masks differ)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["steps", "trials"], default="steps")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fleets", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--precisions", nargs="+", default=["fp32"],
                        choices=["fp32", "bf16"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-train", type=int, default=10000)
    parser.add_argument("--out", default=str(HERE / "out" / "bench_fleet"))
    args = parser.parse_args()
    steps(args) if args.mode == "steps" else trials(args)


if __name__ == "__main__":
    main()
