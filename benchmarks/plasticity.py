"""Plastic topologies on Fashion-MNIST: do rewired or learned graphs beat a static G_N^20?

One :func:`graphens.sweep` (so an interrupted study resumes: rerun the same command), N 10,
the paper's MLP (1024-512-256 → 256) and Gaussian receptive fields (σ 2 px, d 0.1), τ 10,
teacher-side stop-gradient for the 20-edge graphs as in the paper's sparse experiments. Arms,
paired by seed (the run seed also draws G_N^20, the fields and the initialisation, so every
arm of a seed starts from the same graph, fields and weights):

* ``static G_N^20`` — 20 ordered pairs drawn uniformly, weight 1;
* ``rewire`` — the same start, :class:`graphens.plasticity.Rewire` every 2 epochs (prune the
  highest-loss 30 % decaying with a cosine, regrow as many at random: 20 edges throughout);
* ``learn`` — the same start, :class:`graphens.plasticity.LearnedWeights` over the initial
  20 edges (per-student softmax, entropy penalty 0.01);
* ``hebbian`` — the same start, :class:`graphens.plasticity.Hebbian` every 2 epochs (rate 0.5,
  edges below 0.8 of the mean weight dropped and regrown at random: 20 edges);
* ``directed ring`` (2 laterals, 20 edges), ``all-to-all`` (90 edges, no stop-gradient, the
  paper's dense reference) and ``untrained`` (the same masks and initialisation, no step).

Each rule is compared with static G_N^20 and with all-to-all on single-node and ensemble
accuracy: mean paired difference over seeds with its bootstrap 95 % CI, paired t-test p
raw and Holm-adjusted over the whole family, the power reached and the seeds needed for 80 %
power (:mod:`graphens.stats`). Written to ``--tables`` (``plasticity.md``,
``plasticity.csv`` per arm, ``plasticity_tests.csv``, ``plasticity_gap.csv``: how much of the
gap from the static start to all-to-all each rule closes) and ``--figures`` (accuracy per arm,
the graph metrics over training averaged over seeds, and one seed's rewired graph over time).

``--start celegans`` repeats the rewire rule from the C. elegans connectome's 20 most connected
neurons (``connectome:celegans-white1986``, ``map=degree:20``: N 20, 107 edges weighted by
synapse counts): static C. elegans, rewire from it (107 edges throughout), a random G_N^107
with the same budget, all-to-all and untrained, N 20.

τ is 0.1 by default, not the paper's 10: at these CPU budgets τ 10 trains nothing (Fashion-MNIST,
5 epochs on 10k images, all-to-all, seed 1: single node untrained 0.635, τ 10 0.630, τ 0.1
0.651), and a study of graphs needs the graphs to train.

Reduced budget for the shared 2-core CPU (stated in the output): a seeded random
``--max-train`` subset of the training images (same for every trial), ``--max-test`` test
images, a few ``--epochs``, ``--precision bf16``. Usage::

    python benchmarks/plasticity.py --workers 2          # the study (resumes when rerun)
    python benchmarks/plasticity.py --workers 2 --start celegans   # rewire from C. elegans
    python benchmarks/plasticity.py --report-only        # tables from what has finished
    python benchmarks/plasticity.py --smoke              # digits, tiny, a minute
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path
from typing import Any

import graphens
from graphens.io import atomic_write_bytes, atomic_write_text
from graphens.stats import achieved_power, holm, paired_difference, seeds_for_power
from graphens.sweep.report import mean_ci
from graphens.sweep.spec import load_spec
from graphens.sweep.table import read_json, read_table, trial_dir

HERE = Path(__file__).resolve().parent
ACCURACIES = ("single_accuracy", "ensemble_accuracy")
NAMES = {"single_accuracy": "single", "ensemble_accuracy": "ensemble",
         "agreement.mean": "agreement", "graph.distance_correlation": "corr(edge, RF dist)"}
RULES = ("rewire", "learn", "hebbian")
STATIC, DENSE = "static G_N^20", "all-to-all"
#: Each start: its static arm's label, the rules run from it, N, and the file/folder stem.
STARTS: dict[str, dict[str, Any]] = {
    "gnk": {"static": STATIC, "rules": RULES, "nodes": 10, "stem": "plasticity",
            "topology": {"name": "gnk", "params": {"k": 20}}, "edges": 20},
    "celegans": {"static": "static C. elegans", "rules": ("rewire",), "nodes": 20,
                 "stem": "plasticity_celegans", "edges": 107,
                 # does the connectome's wiring beat a random graph of its edge budget?
                 "controls": (("static C. elegans", "G_N^107"),),
                 "topology": {"name": "connectome:celegans-white1986",
                              "params": {"map": "degree:20"}}},
}
PLASTICITY = {
    "rewire": {"fraction": 0.3, "every": 2, "unit": "epoch", "criterion": "loss",
               "grow": "random", "decay": "cosine"},
    "learn": {"candidates": "initial", "sparsity": 0.01},
    "hebbian": {"rate": 0.5, "threshold": 0.8, "regrow": "random", "every": 2,
                "unit": "epoch"},
}
#: Graph metrics reported for the final graphs (``graph.<metric>`` columns).
GRAPH_COLUMNS = ("num_edges", "graph.reciprocity", "graph.clustering_directed",
                 "graph.characteristic_path_length", "graph.distance_correlation",
                 "graph.untaught_nodes")


def build_spec(args: argparse.Namespace) -> dict[str, Any]:
    start = STARTS[args.start]
    fixed: dict[str, Any] = {
        "dataset": "fashion-mnist", "nodes": start["nodes"], "rf": "gaussian",
        "rf_fraction": 0.1, "rf_params": {"sigma": 2.0}, "tau": args.tau,
        "epochs": args.epochs, "max_train": args.max_train, "max_test": args.max_test,
        "stop_gradient": "teacher", "precision": args.precision}
    if args.smoke:
        fixed.update({"dataset": "digits", "hidden": [32], "dim": 16, "tau": 0.05,
                      "epochs": 2, "max_train": None, "max_test": None, "rf_params": {}})
    first = {**start["topology"], "label": start["static"]}
    topologies: list[dict[str, Any]] = [
        {"name": "all-to-all", "label": "untrained", "baseline": "untrained",
         "stop_gradient": "none"},
        first,
        *({**first, "label": rule, "plasticity": rule, "plasticity_params": PLASTICITY[rule]}
          for rule in start["rules"]),
    ]
    if args.start == "gnk":
        topologies.append({"name": "directed-ring", "label": "directed ring",
                           "params": {"laterals": 2}})
    else:  # a random graph with the connectome's edge budget
        topologies.append({"name": "gnk", "label": f"G_N^{start['edges']}",
                           "params": {"k": start["edges"]}})
    topologies.append({"name": "all-to-all", "label": DENSE, "stop_gradient": "none"})
    suffix = ("" if args.start == "gnk" else f"-{args.start}") + ("-smoke" if args.smoke else "")
    return {"name": "plasticity" + suffix, "keep": "results",
            "description": f"plastic topologies vs {start['static']}, all-to-all, untrained",
            "fixed": fixed, "axes": {"seed": list(args.seeds)}, "topologies": topologies}


# --------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------


def _fmt(mean: float, half: float = math.nan, digits: int = 4) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    return f"{mean:.{digits}f}" if math.isnan(half) else f"{mean:.{digits}f} ± {half:.{digits}f}"


def arm_table(ok: Any) -> list[dict[str, Any]]:
    rows = []
    for label, group in ok.groupby("label", sort=False):
        row: dict[str, Any] = {"arm": label, "seeds": len(group)}
        for column in (*ACCURACIES, "agreement.mean", *GRAPH_COLUMNS):
            if column in group.columns:
                values = [float(v) for v in group[column].tolist()
                          if v is not None and not (isinstance(v, float) and math.isnan(v))]
                mean, half, _ = mean_ci(values) if values else (math.nan, math.nan, 0)
                row[column], row[f"{column}.ci"] = mean, half
        rows.append(row)
    return rows


def paired_tests(ok: Any, static: str = STATIC, rules: tuple[str, ...] = RULES,
                 controls: tuple[tuple[str, str], ...] = ()) -> list[dict[str, Any]]:
    """Each rule against the static start and all-to-all, plus the ``controls`` pairs
    ``(arm, reference)``, by seed; Holm over the whole family."""
    by_label = {label: group.set_index("seed") for label, group in ok.groupby("label")}
    pairs = [(rule, reference) for rule in rules for reference in (static, DENSE)]
    tests = []
    for rule, reference in [*pairs, *controls]:
        if rule not in by_label or reference not in by_label:
            continue
        a, b = by_label[rule], by_label[reference]
        seeds = sorted(set(a.index) & set(b.index))
        if len(seeds) < 2:
            continue
        measures = [*ACCURACIES, "agreement.mean"]
        if reference == static and rule in RULES and rule != "learn":  # learn keeps edges
            measures.append("graph.distance_correlation")
        for column in measures:
            diff = paired_difference(a.loc[seeds, column].tolist(),
                                     b.loc[seeds, column].tolist())
            needed = seeds_for_power(diff.mean, diff.sd)
            tests.append({"rule": rule, "reference": reference, "measure": column,
                          "n": diff.n, "diff": diff.mean, "sd": diff.sd,
                          "ci_low": diff.ci_low, "ci_high": diff.ci_high, "p": diff.p,
                          "power": achieved_power(diff.mean, diff.sd, diff.n),
                          "seeds_needed": needed})
    for test, adjusted in zip(tests, holm([t["p"] for t in tests]), strict=True):
        test["p_holm"] = adjusted
    return tests


def gap_closed(ok: Any, static: str = STATIC, rules: tuple[str, ...] = RULES,
               draws: int = 4000, seed: int = 0) -> list[dict[str, Any]]:
    """How much of the static start's gap to all-to-all each rule closes, per accuracy.

    ``closed = mean_s(rule_s − static_s) / mean_s(dense_s − static_s)`` over the seeds ``s``
    where all three arms finished: 0 is no better than the static start, 1 is all-to-all's
    accuracy at the start's edge budget. Its 95 % interval resamples seeds with replacement
    (the three arms of a seed stay together); draws whose gap is not positive are dropped, so
    with a gap near zero the interval is wide and the ratio means little (``gap`` says so).
    """
    import numpy as np

    by_label = {label: group.set_index("seed") for label, group in ok.groupby("label")}
    rows = []
    rng = np.random.default_rng(seed)
    for rule in rules:
        if not {rule, static, DENSE} <= set(by_label):
            continue
        seeds = sorted(set(by_label[rule].index) & set(by_label[static].index)
                       & set(by_label[DENSE].index))
        if len(seeds) < 2:
            continue
        for column in ACCURACIES:
            arm, start, dense = (by_label[label].loc[seeds, column].to_numpy(float)
                                 for label in (rule, static, DENSE))
            gain, gap = arm - start, dense - start
            picks = rng.integers(0, len(seeds), size=(draws, len(seeds)))
            gaps = gap[picks].mean(axis=1)
            ratios = gain[picks].mean(axis=1)[gaps > 0] / gaps[gaps > 0]
            low, high = (np.quantile(ratios, [0.025, 0.975]) if ratios.size
                         else (math.nan, math.nan))
            rows.append({"rule": rule, "measure": column, "n": len(seeds),
                         "gap": float(gap.mean()), "gain": float(gain.mean()),
                         "closed": float(gain.mean() / gap.mean()) if gap.mean() > 0
                         else math.nan, "closed_low": float(low), "closed_high": float(high)})
    return rows


def trajectories(ok: Any, out: Path, rules: tuple[str, ...] = RULES,
                 metrics: tuple[str, ...] = ("distance_correlation", "reciprocity",
                                             "clustering_directed")
                 ) -> dict[str, dict[str, dict[int, list[float]]]]:
    """``{rule: {metric: {epoch: [value per seed]}}}`` from each plastic trial's graph record
    (``results.json["plasticity"]["metrics"]``: the graph metrics at every change)."""
    found: dict[str, dict[str, dict[int, list[float]]]] = {}
    for rule in rules:
        for trial_id in ok.loc[ok["label"] == rule, "id"]:
            record = (read_json(trial_dir(out, trial_id) / "results.json") or {})
            for entry in (record.get("plasticity") or {}).get("metrics", []):
                for metric in metrics:
                    value = entry.get(metric)
                    if value is not None and not math.isnan(value):
                        (found.setdefault(rule, {}).setdefault(metric, {})
                         .setdefault(int(entry["epoch"]), []).append(float(value)))
    return found


def weight_spread(ok: Any, out: Path, rule: str = "learn") -> dict[str, float] | None:
    """How far a weight-learning rule's final weights are from uniform, over its seeds.

    Per student with two or more teachers, the normalised entropy of its teachers' shares
    :math:`H(p) / \\log k` with :math:`p_j = w_{ij} / \\sum_j w_{ij}` (1: every teacher heard
    equally, as at the start; 0: one teacher only), averaged over students and then seeds; and
    the smallest and largest final weight seen. ``None`` without a finished trial of ``rule``.
    """
    import numpy as np

    entropies, low, high = [], math.inf, -math.inf
    for trial_id in ok.loc[ok["label"] == rule, "id"]:
        record = read_json(trial_dir(out, trial_id) / "results.json") or {}
        history = (record.get("plasticity") or {}).get("history") or []
        if not history:
            continue
        students = np.asarray(history[-1]["edge_index"][1])
        weights = np.asarray(history[-1]["edge_weight"], dtype=float)
        low, high = min(low, weights.min()), max(high, weights.max())
        per_student = []
        for student in np.unique(students):
            share = weights[students == student]
            teachers = share.size
            if teachers >= 2 and share.sum() > 0:
                share = share[share > 0] / share.sum()
                per_student.append(float(-(share * np.log(share)).sum() / math.log(teachers)))
        if per_student:
            entropies.append(float(np.mean(per_student)))
    if not entropies:
        return None
    return {"entropy": float(np.mean(entropies)), "seeds": len(entropies),
            "min_weight": float(low), "max_weight": float(high)}


def trajectory_figure(found: dict[str, dict[str, dict[int, list[float]]]],
                      path: Path) -> Path | None:
    """The final graphs' metrics over training: the mean over seeds per rule, ± 95 % CI."""
    import io

    from matplotlib.figure import Figure

    metrics = sorted({m for per_rule in found.values() for m in per_rule})
    if not metrics:
        return None
    fig = Figure(figsize=(3.3 * len(metrics), 3.0), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        for index, (rule, per_rule) in enumerate(found.items()):
            if metric not in per_rule:
                continue
            epochs = sorted(per_rule[metric])
            stats = [mean_ci(per_rule[metric][e]) for e in epochs]
            means = [m for m, _, _ in stats]
            halves = [0.0 if math.isnan(h) else h for _, h, _ in stats]
            ax.errorbar(epochs, means, yerr=halves, capsize=2, marker="o", markersize=3,
                        color=f"C{index}", label=rule)
        ax.set_xlabel("epoch")
        ax.set_title(NAMES.get(f"graph.{metric}", metric.replace("_", " ")), fontsize=9)
    axes[0].legend(fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return atomic_write_bytes(path, buffer.getvalue())


def _needed(value: Any) -> str:
    if value is None:
        return "– (no effect)"
    return "> 1000" if value == math.inf else str(int(value))


def markdown(spec: dict[str, Any], arms: list[dict[str, Any]], tests: list[dict[str, Any]],
             ok: Any, table: Any, static: str = STATIC,
             gaps: list[dict[str, Any]] = (), spread: dict[str, float] | None = None) -> str:
    fixed = spec["fixed"]
    seconds = ok["total_seconds"].sum()
    lines = [
        f"# Plastic topologies vs {static} (Fashion-MNIST, N {fixed['nodes']})", "",
        f"Reduced budget: {fixed['epochs']} epochs on a seeded random "
        f"{fixed['max_train']} training images, decoded on {fixed['max_test']} test images, "
        f"precision {fixed['precision']}; MLP 1024-512-256 → 256, Gaussian fields σ 2 px, "
        f"d 0.1, τ {fixed['tau']}; teacher-side stop-gradient for the sparse graphs. "
        f"Seeds {sorted(set(ok['seed']))}; {len(ok)} of {len(table)} trials finished "
        f"({seconds / 60:.0f} CPU-trial minutes). Rule settings: "
        + "; ".join(f"{k}: {v}" for k, v in PLASTICITY.items()) + ".", "",
        "## Accuracy, agreement and the final graphs (mean ± 95 % CI over seeds)", "",
        "| arm | seeds | single | ensemble | agreement | edges | reciprocity | clustering "
        "| path length | corr(edge, RF distance) |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for row in arms:
        agreement = _fmt(row.get("agreement.mean", math.nan),
                         row.get("agreement.mean.ci", math.nan), 3)
        lines.append(
            f"| {row['arm']} | {row['seeds']} | "
            f"{_fmt(row['single_accuracy'], row['single_accuracy.ci'])} | "
            f"{_fmt(row['ensemble_accuracy'], row['ensemble_accuracy.ci'])} | "
            f"{agreement} | {_fmt(row['num_edges'], digits=0)} | "
            f"{_fmt(row.get('graph.reciprocity', math.nan), digits=2)} | "
            f"{_fmt(row.get('graph.clustering_directed', math.nan), digits=2)} | "
            f"{_fmt(row.get('graph.characteristic_path_length', math.nan), digits=2)} | "
            f"{_fmt(row.get('graph.distance_correlation', math.nan), digits=2)} |")
    lines += ["", "Agreement: the mean over each arm's own final edges of the fraction of test "
              "stimuli whose student embedding is nearest the teacher's (chance 1/128 = "
              "0.008); a rule that keeps the edges that agree raises it by selection as well "
              "as by training. Graph metrics are those of the final graph (for the static "
              "arms, the initial one); corr(edge, RF distance) < 0 means edges join nearby "
              "receptive fields.",
              "", "## Paired differences (arm − reference, by seed)", "",
              "| arm | reference | measure | n | mean diff [95 % CI] | p | p (Holm) | power "
              "| seeds for 80 % |", "|---|---|---|---|---|---|---|---|---|"]
    for t in tests:
        lines.append(
            f"| {t['rule']} | {t['reference']} | {NAMES[t['measure']]} | {t['n']} | "
            f"{t['diff']:+.4f} [{t['ci_low']:+.4f}, {t['ci_high']:+.4f}] | {t['p']:.3g} | "
            f"{t['p_holm']:.3g} | {t['power']:.2f} | {_needed(t['seeds_needed'])} |")
    significant = [t for t in tests if t["p_holm"] < 0.05]
    lines += ["", verdict(tests, significant, arms, static), ""]
    if spread:
        lines += [f"learn's final teacher weights ({spread['seeds']} seeds): normalised entropy "
                  f"of each student's teacher shares {spread['entropy']:.3f} on average (1: "
                  "uniform, as at the start; 0: one teacher), weights from "
                  f"{spread['min_weight']:.2f} to {spread['max_weight']:.2f}.", ""]
    if gaps:
        lines += [f"## How much of the gap from {static} to all-to-all each rule closes", "",
                  "closed = mean(rule − static) / mean(all-to-all − static) over the seeds "
                  "(0: no better than the static start; 1: all-to-all's accuracy at the "
                  "start's edge budget); 95 % interval from resampling seeds.", "",
                  "| rule | measure | n | gap (all-to-all − static) | rule − static | closed "
                  "[95 % CI] |", "|---|---|---|---|---|---|"]
        for g in gaps:
            closed = ("– (no gap)" if math.isnan(g["closed"]) else
                      f"{g['closed']:+.0%} [{g['closed_low']:+.0%}, {g['closed_high']:+.0%}]")
            lines.append(f"| {g['rule']} | {NAMES[g['measure']]} | {g['n']} | "
                         f"{g['gap']:+.4f} | {g['gain']:+.4f} | {closed} |")
        lines.append("")
    return "\n".join(lines)


def verdict(tests: list[dict[str, Any]], significant: list[dict[str, Any]],
            arms: list[dict[str, Any]], static: str = STATIC) -> str:
    if not tests:
        return "No paired comparison yet (fewer than 2 seeds finished per arm)."
    by_arm = {a["arm"]: a for a in arms}
    parts = []
    if "untrained" in by_arm and static in by_arm:
        gain = by_arm[static]["ensemble_accuracy"] - by_arm["untrained"]["ensemble_accuracy"]
        parts.append(f"The {static} arm is {gain:+.3f} ensemble accuracy from the untrained "
                     "ensemble at this budget.")
    if significant:
        parts.append("Differences surviving Holm at 5 %: " + "; ".join(
            f"{t['rule']} vs {t['reference']} ({NAMES[t['measure']]}: "
            f"{t['diff']:+.4f})" for t in significant) + ".")
    else:
        parts.append(f"No rule differs from {static} or all-to-all after Holm at 5 %.")
    accuracy = [t for t in tests if t["reference"] == static and t["measure"] in ACCURACIES]
    weak = [t for t in accuracy if not t["power"] >= 0.8]
    if weak:
        worst = max((t["seeds_needed"] for t in weak
                     if t["seeds_needed"] not in (None, math.inf)), default=None)
        parts.append(
            f"The budget is too small to separate the rules from {static} in accuracy: "
            f"{len(weak)} of {len(accuracy)} of those comparisons have power "
            "< 0.8 at the observed effect" + (f" (up to {worst} seeds would be needed)"
                                              if worst else "") + ".")
    return " ".join(parts)


def bar_figure(arms: list[dict[str, Any]], path: Path) -> Path:
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.4), layout="constrained")
    axes = fig.subplots(1, 2)
    names = [a["arm"] for a in arms]
    for ax, column in zip(axes, ACCURACIES, strict=True):
        means = [a[column] for a in arms]
        halves = [0 if math.isnan(a[f"{column}.ci"]) else a[f"{column}.ci"] for a in arms]
        ax.bar(range(len(arms)), means, yerr=halves, capsize=3,
               color=["grey" if n in ("untrained",) else "C0" if n in RULES else "C1"
                      for n in names])
        ax.set_xticks(range(len(arms)), names, rotation=35, ha="right", fontsize=8)
        low = min(means) - 2 * max(halves + [0.01])
        ax.set_ylim(max(0.0, low), max(means) + 2 * max(halves + [0.01]))
        ax.set_title(column.replace("_", " ") + " (95 % CI over seeds)", fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return atomic_write_bytes(path, buffer.getvalue())


def summarise(spec: dict[str, Any], out: Path, tables: Path, figures: Path,
              start: str = "gnk") -> str:
    static, rules, stem = (STARTS[start][k] for k in ("static", "rules", "stem"))
    table = read_table(out)
    ok = table[table["status"] == "ok"]
    if ok.empty:
        return "no finished trial yet"
    arms = arm_table(ok)
    tests = paired_tests(ok, static, rules, STARTS[start].get("controls", ()))
    import pandas as pd

    tables.mkdir(parents=True, exist_ok=True)
    atomic_write_text(tables / f"{stem}.csv", pd.DataFrame(arms).to_csv(index=False))
    atomic_write_text(tables / f"{stem}_tests.csv", pd.DataFrame(tests).to_csv(index=False))
    gaps = gap_closed(ok, static, rules)
    atomic_write_text(tables / f"{stem}_gap.csv", pd.DataFrame(gaps).to_csv(index=False))
    text = markdown(spec, arms, tests, ok, table, static, gaps,
                    weight_spread(ok, out) if "learn" in rules else None)
    figures.mkdir(parents=True, exist_ok=True)
    bar_figure(arms, figures / "accuracy_by_arm.png")
    link = f"../figures/{figures.name}"
    text += f"\n![accuracy by arm]({link}/accuracy_by_arm.png)\n"
    # learn keeps its edge set and these metrics ignore weights: its lines would be flat
    moving = tuple(rule for rule in rules if rule != "learn")
    if trajectory_figure(trajectories(ok, out, moving), figures / "graph_over_training.png"):
        text += f"![the graphs' metrics over training]({link}/graph_over_training.png)\n"
    rewired = ok[ok["label"] == "rewire"].sort_values("seed")
    if not rewired.empty:
        from graphens.plasticity_plot import write_plasticity_report

        seed = rewired.iloc[0]["seed"]
        drawn = write_plasticity_report(trial_dir(out, rewired.iloc[0]["id"]),
                                        out / "rewire_report")
        for path in drawn["plots"].values():
            shutil.copyfile(path, figures / f"rewire_seed{seed}_{path.name}")
            text += f"![{path.stem}]({link}/rewire_seed{seed}_{path.name})\n"
    atomic_write_text(tables / f"{stem}.md", text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--start", choices=sorted(STARTS), default="gnk",
                        help="gnk: G_N^20, N 10, every rule; celegans: the connectome's 20 "
                             "most connected neurons, N 20, rewire")
    parser.add_argument("--out", default=None,
                        help="sweep folder (default: benchmarks/out/<stem>)")
    parser.add_argument("--tables", default=str(HERE / "tables"))
    parser.add_argument("--figures", default=None,
                        help="figures folder (default: benchmarks/figures/<stem>)")
    parser.add_argument("--tau", type=float, default=0.1,
                        help="softmax temperature (default 0.1: τ 10 trains nothing at CPU "
                             "budgets)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--max-train", type=int, default=2000)
    parser.add_argument("--max-test", type=int, default=1000)
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--force", action="store_true",
                        help="reuse --out although it holds another seed list's sweep (its "
                             "finished trials are kept)")
    args = parser.parse_args(argv)
    spec = build_spec(args)
    stem = STARTS[args.start]["stem"]
    out = Path((args.out or str(HERE / "out" / stem)) + ("-smoke" if args.smoke else ""))
    if not args.report_only:
        load_spec(spec)  # every bad value fails here, before any data
        # Seed by seed (every arm of seed 1, then of seed 2, ...), so that a study cut short
        # still has paired arms; each pass reuses the finished trials of the one before.
        # A rerun's first passes list fewer seeds than the folder records: the same study
        # (same name), so it may reuse the folder.
        recorded = read_json(out / "spec.json") or {}
        same = recorded.get("name") == spec["name"]
        for count in range(1, len(args.seeds) + 1):
            partial = {**spec, "axes": {"seed": list(args.seeds[:count])}}
            graphens.sweep(partial, out, workers=args.workers, progress=False,
                           force=args.force or same or count > 1)
    tables = Path(args.tables) if not args.smoke else out / "tables"
    figures = (Path(args.figures or HERE / "figures" / stem) if not args.smoke
               else out / "figures")
    print(summarise(spec, out, tables, figures, args.start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
