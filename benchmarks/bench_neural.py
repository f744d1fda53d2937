"""Neural data benchmark: stimulus decoding on a synthetic multi-area population.

For each seed ``s`` (the population and the run use the same seed), trains temporal CLoSeR
(method.md §7) on the all-to-all graph and on a sparse G_N^k graph, plus LPL for reference, and
decodes the untrained ensemble and the raw last-bin input ("masked") with the same areas. The
decoded variable is the movie (3 classes), from the last bin's embedding; chance is the
majority class. Writes ``benchmarks/out/neural/results.json`` and prints a Markdown table
(mean ± sd over seeds).

    python benchmarks/bench_neural.py --seeds 0 1 2 --epochs 150
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from graphens.config import RunConfig
from graphens.experiment import run
from graphens.io import atomic_write_json
from graphens.neural import synthetic_population

OUT = Path(__file__).resolve().parent / "out" / "neural"
#: The synthetic population of the benchmark (the remaining parameters at their defaults:
#: 6 areas x 24 units, 3 movies of 40 frames, latent dim 3, coupling 1, timescale 3).
POPULATION = {"noise": 0.5, "rate": 2.0, "trials": 15}
#: (label, baseline, objective, topology, topology params)
CONDITIONS = [
    ("temporal CLoSeR, all-to-all (30 edges)", "closer", "temporal-closer", "all-to-all", {}),
    ("temporal CLoSeR, G_N^k k=10 (10 edges)", "closer", "temporal-closer", "gnk", {"k": 10}),
    ("LPL (no cross-node term)", "closer", "lpl", "all-to-all", {}),
    ("untrained", "untrained", "temporal-closer", "all-to-all", {}),
    ("raw input (masked)", "raw-input", "temporal-closer", "all-to-all", {}),
]
METRICS = ("single_accuracy", "ensemble_accuracy")


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows: dict[str, dict[str, list[float]]] = {c[0]: {m: [] for m in METRICS} for c in CONDITIONS}
    rows["chance (majority class)"] = {"ensemble_accuracy": [], "single_accuracy": []}
    frames: dict[str, list[float]] = {c[0]: [] for c in CONDITIONS}
    started = time.perf_counter()
    for seed in args.seeds:
        recording = synthetic_population(seed=seed, **POPULATION)
        for label, baseline, objective, topology, params in CONDITIONS:
            config = RunConfig(modality="neural", baseline=baseline, objective=objective,
                               topology=topology,
                                     topology_params=params, epochs=args.epochs, seed=seed,
                                     device="cpu")
            result = run(config, progress=False, dataset=recording)
            for metric in METRICS:
                rows[label][metric].append(result[metric])
            frames[label].append(result["frame_decoding"]["ensemble_accuracy"])
            print(f"seed {seed} {label}: single {result['single_accuracy']:.3f} ensemble "
                  f"{result['ensemble_accuracy']:.3f} ({result['train_seconds']:.1f} s)",
                  flush=True)
        chance = result["chance_accuracy"]
        rows["chance (majority class)"]["single_accuracy"].append(chance)
        rows["chance (majority class)"]["ensemble_accuracy"].append(chance)
    table = ["| condition | single node | ensemble | time bin, ensemble (10 classes) |",
             "|---|---|---|---|"]
    for label, values in rows.items():
        frame = mean_sd(frames[label]) if label in frames else "—"
        table.append(f"| {label} | {mean_sd(values['single_accuracy'])} | "
                     f"{mean_sd(values['ensemble_accuracy'])} | {frame} |")
    print("\n".join(table))
    summary = {"seeds": args.seeds, "epochs": args.epochs, "population": POPULATION,
               "stimulus": rows, "time_bin_ensemble": frames, "table": table,
               "seconds": time.perf_counter() - started}
    atomic_write_json(OUT / "results.json", summary)
    return summary


if __name__ == "__main__":
    main()
