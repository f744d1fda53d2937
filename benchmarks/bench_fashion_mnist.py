"""Benchmark 5: CLoSeR against its baselines on Fashion-MNIST, the paper's ensemble.

Config (method.md §3–6): N 10 nodes, all-to-all, Gaussian receptive fields σ 2 px with
d 0.1 (78 of 784 pixels per node), MLP 1024-512-256 → 256, τ 10, NAdam lr 1e-3, batch 128,
augmentation, ``--epochs`` epochs (default 20) on the 60 000 training images; decoding by
the paper's probe on the 10 000 test images. Four arms per seed, each with the same masks and
initialisation (same seed): ``closer``, ``untrained``, ``supervised`` (per-node softmax heads)
and ``raw-input`` (the probe on each node's raw pixels).

Every arm is one :func:`graphens.experiment.run` (what ``graphens train`` calls) into
``<out>/<arm>-seed<k>/``; a finished arm (``results.json`` present) is skipped and an
interrupted one resumes from its last epoch checkpoint, so re-running the same command
finishes the table. After each arm the summary (``results.md``, ``results.json``,
``accuracy.png``) is rewritten atomically.

Usage::

    python benchmarks/bench_fashion_mnist.py --seeds 1 2 3 --epochs 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from _common import OUT_ROOT, environment, markdown_table, write_results

from graphens.data import load_dataset
from graphens.experiment import RunConfig, run
from graphens.io import atomic_write, atomic_write_json

ARMS = ("untrained", "raw-input", "closer", "supervised")  # cheap ones first


def arm_config(arm: str, seed: int, epochs: int) -> RunConfig:
    return RunConfig(dataset="fashion-mnist", topology="all-to-all", nodes=10, rf="gaussian",
                     rf_fraction=0.1, rf_params={"sigma": 2.0}, tau=10.0, baseline=arm,
                     epochs=epochs, seed=seed)


def cli_command(config: RunConfig, out_dir: Path) -> str:
    """The ``graphens train`` line that runs the same arm."""
    return (f"graphens train --dataset fashion-mnist --nodes 10 --topology all-to-all "
            f"--rf gaussian --rf-param sigma=2 --rf-fraction 0.1 --tau 10 "
            f"--baseline {config.baseline} --epochs {config.epochs} --seed {config.seed} "
            f"--out {out_dir}")


def summarise(results: dict[str, list[dict[str, Any]]], args: argparse.Namespace,
              ) -> tuple[dict[str, Any], str]:
    rows, payload = [], {"arms": {}, "environment": environment("cpu"), "epochs": args.epochs,
                         "seeds": args.seeds}
    for arm in ARMS:
        runs = results.get(arm, [])
        if not runs:
            continue
        single = [r["single_accuracy"] for r in runs]
        ensemble = [r["ensemble_accuracy"] for r in runs]
        agreement = [r["agreement"]["mean"] for r in runs]
        minutes = [r["total_seconds"] / 60 for r in runs]
        payload["arms"][arm] = {"seeds": [r["config"]["seed"] for r in runs],
                                "single": single, "ensemble": ensemble,
                                "agreement": agreement, "total_minutes": minutes,
                                "train_seconds": [r["train_seconds"] for r in runs],
                                "samples_per_second": [r["samples_per_second"] for r in runs]}
        rows.append([arm, len(runs), _mean_sd(single), _mean_sd(ensemble), _mean_sd(agreement),
                     f"{statistics.median(minutes):.1f}",
                     f"{statistics.median(r['samples_per_second'] for r in runs):.0f}"
                     if arm in ("closer", "supervised") else "–"])
    table = markdown_table(["arm", "seeds", "single-node acc.", "ensemble acc.",
                            "agreement", "median wall min", "train samples/s"], rows)
    command = f"python benchmarks/bench_fashion_mnist.py --seeds {' '.join(map(str, args.seeds))}"
    command += f" --epochs {args.epochs}"
    text = (f"Fashion-MNIST, N 10, all-to-all, Gaussian σ 2, d 0.1, τ 10, {args.epochs} epochs; "
            "mean ± sd over seeds.\n\n" + table + f"\n\nCommand: `{command}`\n")
    return payload, text


def _mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def plot(payload: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    arms = list(payload["arms"])
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for offset, key, colour in ((-0.18, "single", "tab:blue"), (0.18, "ensemble", "tab:orange")):
        for i, arm in enumerate(arms):
            values = payload["arms"][arm][key]
            ax.bar(i + offset, statistics.mean(values), width=0.34, color=colour,
                   label=key if i == 0 else None)
            ax.scatter([i + offset] * len(values), values, color="black", s=8, zorder=3)
    ax.set_xticks(range(len(arms)), arms)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(f"Fashion-MNIST, N 10 all-to-all, {payload['epochs']} epochs")
    ax.legend(loc="lower right")
    fig.tight_layout()
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=120))
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument("--out", type=Path, default=OUT_ROOT / "fashion_mnist")
    args = parser.parse_args(argv)
    dataset = load_dataset("fashion-mnist")
    results: dict[str, list[dict[str, Any]]] = {}
    commands = []
    for seed in args.seeds:
        for arm in args.arms:
            config = arm_config(arm, seed, args.epochs)
            out_dir = args.out / f"{arm}-seed{seed}"
            commands.append(cli_command(config, out_dir))
            done = out_dir / "results.json"
            if done.exists():
                result = json.loads(done.read_text())
            else:
                print(f"== {arm}, seed {seed}", file=sys.stderr, flush=True)
                result = run(config, out_dir, resume=True, dataset=dataset)
            results.setdefault(arm, []).append(result)
            payload, text = summarise(results, args)
            payload["commands"] = commands
            folder = write_results(args.out.name, payload, text, out_root=args.out.parent)
            plot(payload, folder / "accuracy.png")
            atomic_write_json(folder / "commands.json", commands)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
