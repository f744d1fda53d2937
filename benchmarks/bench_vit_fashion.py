"""Benchmark: ViT-lite nodes on Fashion-MNIST, CLoSeR against untrained and supervised.

Config: N 10 all-to-all, 4×4 patches with d 0.1 (5 patches per node), ``patches`` and
``contiguous`` masks, ViT-lite (method.md §4), τ 10, NAdam lr 1e-3, batch 128, augmentation;
at a reduced budget: a seeded random ``--max-train`` of the 60 000 training images, the
first-seed-independent ``--max-test`` subset of the test images (both by
:func:`graphens.sweep.executors.subset_dataset`, seed 0, the same for every arm), and
``--epochs`` epochs. Arms per mask and seed, with the same masks and initialisation (same
seed): ``untrained``, ``closer``, ``supervised``. Each arm is one
:func:`graphens.experiment.run` into ``<out>/<mask>/<arm>-seed<k>/``; finished arms are
skipped and interrupted ones resume, so re-running the same command completes the table.

After each arm the summary is rewritten (``<out>/summary.md``, ``summary.json``): per mask and
arm the mean single-node and ensemble accuracies, and paired differences by seed
(:func:`graphens.stats.paired_difference`: mean, bootstrap 95 % CI, paired t p) of CLoSeR −
untrained and CLoSeR − supervised.

Usage::

    python benchmarks/bench_vit_fashion.py --seeds 1 2 3 --epochs 1 --max-train 3000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from _common import OUT_ROOT

from graphens.data import load_dataset
from graphens.experiment import RunConfig, run
from graphens.io import atomic_write_json, atomic_write_text
from graphens.stats import paired_difference
from graphens.sweep.executors import subset_dataset

ARMS = ("untrained", "closer", "supervised")  # cheap one first
MASKS = ("patches", "contiguous")


def arm_config(mask: str, arm: str, seed: int, epochs: int) -> RunConfig:
    return RunConfig(dataset="fashion-mnist", topology="all-to-all", nodes=10,
                     encoder="vit-lite", rf=mask, rf_fraction=0.1, rf_params={"patch": 4},
                     tau=10.0, baseline=arm, epochs=epochs, seed=seed)


def cli_command(config: RunConfig, out_dir: Path) -> str:
    return (f"graphens train --dataset fashion-mnist --nodes 10 --encoder vit-lite "
            f"--rf {config.rf} --rf-param patch=4 --rf-fraction 0.1 --tau 10 "
            f"--baseline {config.baseline} --epochs {config.epochs} --seed {config.seed} "
            f"--out {out_dir}  # on the subset: see bench_vit_fashion.py")


def summarise(results: dict[tuple[str, str], dict[int, dict[str, Any]]],
              args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    lines = [f"ViT-lite on Fashion-MNIST: N 10 all-to-all, 4×4 patches, d 0.1, τ 10, "
             f"{args.epochs} epoch(s) on {args.max_train} training images, tested on "
             f"{args.max_test}; seeds {args.seeds}.", ""]
    payload: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()},
                               "masks": {}}
    for mask in args.masks:
        rows = []
        payload["masks"][mask] = {}
        for arm in ARMS:
            runs = results.get((mask, arm), {})
            if not runs:
                continue
            single = [runs[s]["single_accuracy"] for s in sorted(runs)]
            ensemble = [runs[s]["ensemble_accuracy"] for s in sorted(runs)]
            agreement = [runs[s]["agreement"]["mean"] for s in sorted(runs)]
            minutes = [runs[s]["total_seconds"] / 60 for s in sorted(runs)]
            payload["masks"][mask][arm] = {"seeds": sorted(runs), "single": single,
                                           "ensemble": ensemble, "agreement": agreement,
                                           "total_minutes": minutes}
            rows.append(f"| {mask} | {arm} | {len(runs)} | {_mean_sd(single)} | "
                        f"{_mean_sd(ensemble)} | {_mean_sd(agreement)} | "
                        f"{statistics.median(minutes):.1f} |")
        lines += ["| mask | arm | seeds | single-node acc. | ensemble acc. | agreement | "
                  "median wall min |", "|---|---|---|---|---|---|---|", *rows, ""]
        closer = results.get((mask, "closer"), {})
        for other in ("untrained", "supervised"):
            runs = results.get((mask, other), {})
            seeds = sorted(set(closer) & set(runs))
            if len(seeds) < 2:
                continue
            for key in ("single_accuracy", "ensemble_accuracy"):
                diff = paired_difference([closer[s][key] for s in seeds],
                                         [runs[s][key] for s in seeds])
                payload["masks"][mask][f"closer-{other}-{key}"] = diff.as_dict()
                lines.append(f"- {mask}, CLoSeR − {other}, {key.split('_')[0]}: "
                             f"{diff.mean:+.3f} [{diff.ci_low:+.3f}, {diff.ci_high:+.3f}] "
                             f"(paired t p = {diff.p:.3g}, n = {diff.n})")
        lines.append("")
    return payload, "\n".join(lines)


def _mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-train", type=int, default=3000)
    parser.add_argument("--max-test", type=int, default=2000)
    parser.add_argument("--masks", nargs="+", default=list(MASKS), choices=MASKS)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument("--out", type=Path, default=OUT_ROOT / "vit_fashion")
    args = parser.parse_args(argv)
    dataset = subset_dataset(load_dataset("fashion-mnist"), args.max_train, args.max_test,
                             seed=0)
    results: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    commands = []
    for seed in args.seeds:
        for mask in args.masks:
            for arm in args.arms:
                config = arm_config(mask, arm, seed, args.epochs)
                out_dir = args.out / mask / f"{arm}-seed{seed}"
                commands.append(cli_command(config, out_dir))
                done = out_dir / "results.json"
                if done.exists():
                    result = json.loads(done.read_text())
                else:
                    print(f"== {mask}, {arm}, seed {seed}", file=sys.stderr, flush=True)
                    result = run(config, out_dir, resume=True, dataset=dataset, progress=False)
                results.setdefault((mask, arm), {})[seed] = result
                payload, text = summarise(results, args)
                payload["commands"] = commands
                atomic_write_json(args.out / "summary.json", payload)
                atomic_write_text(args.out / "summary.md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
