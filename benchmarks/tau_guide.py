"""The τ and d tables of docs/choosing_tau_and_d.md from a finished τ (× d) sweep.

For every receptive-field fraction d and temperature τ of the sweep's CLoSeR rows: mean ± 95 %
CI over seeds of the single-node and ensemble accuracy and of the agreement score, and the
single-node gain over the untrained ensemble with the same d, paired by seed
(:func:`graphens.stats.paired_difference`), Holm-corrected over all (d, τ) points of the sweep,
with the power that the observed gain would have at those seeds
(:func:`graphens.stats.achieved_power`). Writes ``benchmarks/tables/tau/<sweep>.md`` and a figure
``benchmarks/figures/tau/<sweep>.png`` (accuracy against τ, one line per d, the untrained level
dashed).

Usage::

    python benchmarks/tau_guide.py benchmarks/out/tau_vit_digits
    python benchmarks/tau_guide.py benchmarks/out/tau_d_digits
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path
from typing import Any

import pandas as pd

from graphens.io import atomic_write_text
from graphens.stats import achieved_power, holm, paired_difference

HERE = Path(__file__).resolve().parent
MEASURES = {"single_accuracy": "single node", "ensemble_accuracy": "ensemble",
            "agreement.mean": "agreement"}


def _mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % t interval (NaN for one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan
    from scipy.stats import t as student  # scikit-learn's dependency

    return mean, student.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(
        len(values))


def _pm(mean: float, half: float) -> str:
    return f"{mean:.3f}" if math.isnan(half) else f"{mean:.3f} ± {half:.3f}"


def tau_table(results: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per (d, τ) of the CLoSeR trials, with the paired gain over untrained."""
    ok = results[results["status"] == "ok"]
    untrained = ok[ok["baseline"] == "untrained"]
    closer = ok[ok["baseline"].fillna("closer") == "closer"]
    rows = []
    for (d, tau), group in closer.groupby(["rf_fraction", "tau"]):
        row: dict[str, Any] = {"d": d, "tau": tau, "seeds": len(group)}
        for column in MEASURES:
            row[column] = _mean_ci(group[column].tolist())
        base = untrained[untrained["rf_fraction"] == d].set_index("seed")
        mine = group.set_index("seed")
        seeds = sorted(set(mine.index) & set(base.index))
        diff = paired_difference(mine.loc[seeds, "single_accuracy"].tolist(),
                                 base.loc[seeds, "single_accuracy"].tolist())
        row["gain"] = diff
        row["power"] = (achieved_power(diff.mean, diff.sd, diff.n)
                        if diff.n >= 2 and diff.sd > 0 else math.nan)
        row["untrained"] = _mean_ci(base["single_accuracy"].tolist())
        row["chance"] = float(group["agreement_chance"].mean())
        rows.append(row)
    adjusted = holm([row["gain"].p for row in rows])
    for row, p in zip(rows, adjusted, strict=True):
        row["p_holm"] = p
    return rows


def markdown(rows: list[dict[str, Any]], name: str, command: str) -> str:
    lines = [f"# τ{' × d' if len({r['d'] for r in rows}) > 1 else ''}: {name}", "",
             f"Command: `{command}`", "",
             "| d | τ | seeds | single node | untrained single | gain (pt), 95 % CI | p (Holm) "
             "| power | ensemble | agreement (chance) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        gain = row["gain"]
        lines.append(
            f"| {row['d']:g} | {row['tau']:g} | {row['seeds']} | {_pm(*row['single_accuracy'])} "
            f"| {_pm(*row['untrained'])} | {100 * gain.mean:+.2f} "
            f"[{100 * gain.ci_low:+.2f}, {100 * gain.ci_high:+.2f}] | {row['p_holm']:.3g} "
            f"| {row['power']:.2f} | {_pm(*row['ensemble_accuracy'])} "
            f"| {_pm(*row['agreement.mean'])} ({row['chance']:.3f}) |")
    lines += ["", f"Holm over the {len(rows)} gains; power: a paired t-test's power at α 0.05 "
              "if the true gain were the observed one, at these seeds."]
    return "\n".join(lines) + "\n"


def figure(rows: list[dict[str, Any]], name: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for i, d in enumerate(sorted({row["d"] for row in rows})):
        mine = sorted((row for row in rows if row["d"] == d), key=lambda row: row["tau"])
        taus = [row["tau"] for row in mine]
        colour = f"C{i}"
        means = [row["single_accuracy"][0] for row in mine]
        halves = [row["single_accuracy"][1] for row in mine]
        axes[0].errorbar(taus, means, yerr=halves, color=colour, marker="o", capsize=3,
                         label=f"d {d:g}")
        axes[0].axhline(mine[0]["untrained"][0], color=colour, linestyle="--", linewidth=1)
        axes[1].errorbar(taus, [100 * row["gain"].mean for row in mine],
                         yerr=[[100 * (row["gain"].mean - row["gain"].ci_low) for row in mine],
                               [100 * (row["gain"].ci_high - row["gain"].mean) for row in mine]],
                         color=colour, marker="o", capsize=3, label=f"d {d:g}")
    axes[0].set(xscale="log", xlabel="τ", ylabel="single-node accuracy",
                title="CLoSeR (dashed: untrained, same d)")
    axes[1].axhline(0, color="grey", linewidth=1)
    axes[1].set(xscale="log", xlabel="τ", ylabel="CLoSeR − untrained, single (pt)",
                title="gain, paired by seed, 95 % CI")
    axes[0].legend(fontsize=8)
    fig.suptitle(name, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="a sweep directory with results.parquet")
    parser.add_argument("--tables", type=Path, default=HERE / "tables" / "tau")
    parser.add_argument("--figures", type=Path, default=HERE / "figures" / "tau")
    args = parser.parse_args(argv)
    results = pd.read_parquet(args.sweep / "results.parquet")
    rows = tau_table(results)
    name = args.sweep.name
    text = markdown(rows, name, f"python benchmarks/tau_guide.py {args.sweep}")
    args.tables.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.tables / f"{name}.md", text)
    figure(rows, name, args.figures / f"{name}.png")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
