"""Sparse vs dense connectivity on Fashion-MNIST, and the receptive-field and N sweeps.

Three sweeps (specs in ``benchmarks/specs/``), each one :func:`graphens.sweep` into
``<out>/<part>/`` followed by its :func:`graphens.sweep.report.write_report`:

* ``sparse`` (``sparse_vs_dense.toml``, 48 trials) — N 10, MLP 1024-512-256 → 256, Gaussian
  fields σ 2 px, d 0.1, τ 10; G_N^k for k = 10 … 90 in steps of 10, the directed ring (2
  laterals) and the bidirectional ring (1 lateral), star, small-world (Watts–Strogatz k 2) and
  scale-free (Barabási–Albert m 1) graphs of 18–20 edges, all with the teacher-side
  stop-gradient of the paper; all-to-all without it; the untrained ensemble; seeds 1, 2, 3.
* ``rf`` (``receptive_fields.toml``, 54 trials) — d ∈ {0.01, 0.025, 0.05, 0.1, 0.15, 0.25},
  CLoSeR (all-to-all) vs supervised vs untrained, seeds 1, 2, 3.
* ``nodes`` (``nodes.toml``, 45 trials) — N ∈ {2, 3, 5, 10, 15}, the same three arms.

Reduced budget (stated in the specs; override with ``--epochs`` / ``--max-train``): 20
epochs on a seeded random 10 000 of the 60 000 training images (the same subset for every
trial; 1 560 steps of 128), decoded on the full 10 000 test images. A first budget of 5 epochs
(390 steps) left CLoSeR at the level of the untrained ensemble, which makes every accuracy
comparison empty (benchmarks/README.md). Time, measured on one thread of the 2-core machine
(the second core running another trial): a trained N-10 trial takes about 6 min (252 s
training, 104 s decoding), an untrained one about 1.7 min. With ``--workers 2``, measured:
2.1 h for ``sparse``, 1.0 h for ``nodes`` and 1.8 h for ``rf``, so about 4.9 h on 2 CPU
cores. On one GPU, minutes per sweep (estimated, not measured). Trials shared
between sweeps (same configuration, hence the same id: all-to-all at d 0.1 and N 10) are
copied from a finished sweep instead of run again (132 distinct trials of 147).

Reported in ``<out>/summary.md`` (and ``summary.json``): accuracy against edges with 95 % CIs,
the compute saved by each sparse graph (loss FLOPs per step and measured train time per epoch
relative to all-to-all), the smallest k whose G_N^k is within 1 point of all-to-all, the ring
vs G_N^k comparison at 20 edges, and the d and N tables with each arm's gain over the untrained
ensemble; paired by seed (:mod:`graphens.stats`: bootstrap 95 % CIs of the mean paired
difference, paired t-test p-values raw and Holm-adjusted within each table). The main
figures are copied to ``--figures`` (default ``benchmarks/figures/sparse_vs_dense/``).

Re-running the same command resumes (finished trials are skipped). Usage::

    python benchmarks/sparse_vs_dense.py --workers 2            # all three, 2 CPUs, ~4.9 h
    python benchmarks/sparse_vs_dense.py --device cuda          # one GPU, the same budget
    python benchmarks/sparse_vs_dense.py --only sparse --epochs 20 --max-train 0  # paper-size
    python benchmarks/sparse_vs_dense.py --executor ray --address HOST:6379
    python benchmarks/sparse_vs_dense.py --smoke                # digits, tiny, a few minutes
    python benchmarks/sparse_vs_dense.py --report-only          # summarise what has finished
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any

import graphens
from graphens.io import atomic_write, atomic_write_json, atomic_write_text
from graphens.stats import holm, paired_difference
from graphens.sweep.report import mean_ci, write_report
from graphens.sweep.spec import load_spec, read_spec_file
from graphens.sweep.table import write_table

HERE = Path(__file__).resolve().parent
SPECS = {"sparse": "sparse_vs_dense.toml", "rf": "receptive_fields.toml", "nodes": "nodes.toml"}
PAIRED_PLOT = "paired_difference_vs_edges.png"
FIGURES = {"sparse": ["accuracy_vs_edges.png", PAIRED_PLOT, "accuracy_vs_compute.png",
                      "single_accuracy_vs_graph_metrics.png"],
           "rf": ["accuracy_vs_rf_fraction.png"], "nodes": ["accuracy_vs_nodes.png"]}
#: --smoke: digits (8x8), a tiny MLP, one epoch, two seeds; sizes digits can split.
SMOKE_FIXED = {"dataset": "digits", "hidden": [32], "dim": 16, "epochs": 1, "tau": 0.05,
               "max_train": None, "max_test": None}
SMOKE_AXES = {"rf": {"rf_fraction": [0.1, 0.25]}, "nodes": {"nodes": [2, 3, 5]}}
ACCURACIES = ("single_accuracy", "ensemble_accuracy")
WITHIN = 0.01  # "within 1 point of all-to-all"
RING_EDGES = 20


def build_spec(part: str, args: argparse.Namespace) -> dict[str, Any]:
    """The spec of one part with the command line's overrides."""
    spec = read_spec_file(HERE / "specs" / SPECS[part])
    fixed, axes = spec.setdefault("fixed", {}), spec.setdefault("axes", {})
    if args.smoke:
        fixed.update(SMOKE_FIXED)
        axes.update(SMOKE_AXES.get(part, {}))
        spec["name"] += "-smoke"
    if args.epochs is not None:
        fixed["epochs"] = args.epochs
    if args.max_train is not None:
        fixed["max_train"] = None if args.max_train <= 0 else args.max_train
    if args.seeds:
        axes["seed"] = list(args.seeds)
    if args.device:
        fixed["device"] = args.device
    return spec


def reuse_finished(spec: dict[str, Any], out: Path, root: Path) -> int:
    """Copy trials of ``spec`` already finished in a sibling sweep under ``root``.

    Only into a new sweep directory or one of the same spec (whose ``spec.json`` is written
    first, as :func:`graphens.sweep` would).
    """
    loaded = load_spec(spec)
    record = out / "spec.json"
    if record.exists():
        if set(json.loads(record.read_text()).get("trials", [])) != set(loaded.ids):
            return 0  # another spec: graphens.sweep refuses it with its own message
    elif out.exists() and any(out.iterdir()):
        return 0
    else:
        atomic_write_json(record, {"name": loaded.name, "spec": loaded.spec,
                                   "trials": loaded.ids})
    copied = 0
    for trial_id in loaded.ids:
        target = out / "trials" / trial_id
        if (target / "results.json").exists():
            continue
        for source in sorted(root.glob(f"*/trials/{trial_id}/results.json")):
            if source.parent.parent.parent == out:
                continue
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source.parent, target)
            copied += 1
            break
    return copied


# --------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------


def _ok(table: Any) -> Any:
    return table[table["status"] == "ok"]


def _stats(rows: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"seeds": int(len(rows))}
    for column in ACCURACIES:
        mean, half, _ = mean_ci(rows[column].tolist())
        out[column] = mean
        out[f"{column}_ci"] = half
    for column in ("num_edges", "loss_flops_per_step", "seconds_per_epoch"):
        out[column] = float(rows[column].mean())
    return out


def _pm(mean: float, half: float) -> str:
    if mean is None or math.isnan(mean):
        return "–"
    return f"{mean:.4f}" if math.isnan(half) else f"{mean:.4f} ± {half:.4f}"


def _pct(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.0f} %"


def sparse_summary(table: Any) -> tuple[dict[str, Any], str]:
    """Accuracy vs edges, compute saved, smallest k near all-to-all, ring vs random."""
    ok = _ok(table).copy()
    # k of G_N^k only (other families have parameters named k too, e.g. Watts-Strogatz)
    k_column = ok["topology_params.k"] if "topology_params.k" in ok.columns else math.nan
    ok["gnk_k"] = k_column
    ok.loc[ok["label"] != "G_N^k", "gnk_k"] = math.nan
    settings, per_seed = [], []
    for (label, k), rows in ok.groupby(["label", "gnk_k"], dropna=False, sort=False):
        entry = {"label": label, "k": None if k != k else int(k), **_stats(rows)}
        settings.append(entry)
        per_seed.append(rows.set_index("seed"))
    by_label = {s["label"]: s for s in settings if s["k"] is None}
    dense = by_label.get("all-to-all")
    untrained = by_label.get("untrained")
    _paired_with_references(settings, per_seed)
    _holm([s["paired"][c] for s in settings if "paired" in s for c in ACCURACIES])
    for s in settings:
        s["flops_vs_dense"] = (s["loss_flops_per_step"] / dense["loss_flops_per_step"]
                               if dense and dense["loss_flops_per_step"] else math.nan)
        s["time_vs_dense"] = (s["seconds_per_epoch"] / dense["seconds_per_epoch"]
                              if dense and dense["seconds_per_epoch"] else math.nan)
    gnk = sorted((s for s in settings if s["label"] == "G_N^k"), key=lambda s: s["k"])
    smallest = {}
    for column in ACCURACIES:
        smallest[column] = None
        if dense:
            for s in gnk:
                if s[column] >= dense[column] - WITHIN:
                    smallest[column] = s["k"]
                    break
    random20 = ok[ok["gnk_k"] == RING_EDGES]
    rings = []
    for label in ("directed ring", "bidirectional ring"):
        ring = ok[ok["label"] == label]
        seeds = sorted(set(ring["seed"]) & set(random20["seed"]))
        if len(seeds) < 2:
            continue
        paired = _paired_by_seed(ring.set_index("seed"), random20.set_index("seed"))
        rings.append({"ring": label, "seeds": seeds, **paired})
    _holm([r[c] for r in rings for c in ACCURACIES])

    lines = ["### Accuracy against edges", "",
             "| graph | edges | seeds | single (95 % CI) | ensemble (95 % CI) | loss FLOPs "
             "vs all-to-all | train time/epoch vs all-to-all |", "|---|---|---|---|---|---|---|"]
    order = sorted(settings, key=lambda s: (s["label"] in ("all-to-all", "untrained"),
                                            s["label"] != "G_N^k", s["num_edges"], s["label"]))
    for s in order:
        name = f"G_N^k, k {s['k']}" if s["k"] is not None else s["label"]
        lines.append(f"| {name} | {s['num_edges']:.0f} | {s['seeds']} | "
                     f"{_pm(s['single_accuracy'], s['single_accuracy_ci'])} | "
                     f"{_pm(s['ensemble_accuracy'], s['ensemble_accuracy_ci'])} | "
                     f"{_pct(s['flops_vs_dense'])} | {_pct(s['time_vs_dense'])} |")
    lines += ["", "### Paired over seeds: difference from all-to-all, share of its gain", "",
              "Each seed's graph minus the same seed's all-to-all (same fields and "
              "initialisation), with the bootstrap 95 % CI of the mean difference, the paired "
              "t-test p and its Holm adjustment over this table, and the share of "
              "all-to-all's gain over the untrained ensemble that the graph recovers, (graph − "
              "untrained) / (all-to-all − untrained), from the seed means.", "",
              "| graph | Δ single (pt) [95 % CI] | p | p (Holm) | share of gain, single | "
              "Δ ensemble (pt) [95 % CI] | p | p (Holm) | share of gain, ensemble |",
              "|---|---|---|---|---|---|---|---|---|"]
    for s in order:
        if s["label"] == "all-to-all" or "paired" not in s:
            continue
        name = f"G_N^k, k {s['k']}" if s["k"] is not None else s["label"]
        cells = []
        for column in ACCURACIES:
            test = s["paired"][column]
            cells += [_points_ci(test), f"{test['p_t']:.2g}", f"{test['p_holm']:.2g}",
                      _pct(s["share_of_gain"][column])]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "### Smallest k within 1 point of all-to-all", ""]
    for column in ACCURACIES:
        k = smallest[column]
        if k is None:
            run = ", ".join(str(s["k"]) for s in gnk) or "none"
            lines.append(f"* {column.replace('_', ' ')}: no G_N^k graph run (k = {run}) is "
                         "within 1 point" + ("" if dense else " (all-to-all missing)"))
            continue
        s = next(s for s in gnk if s["k"] == k)
        vacuous = untrained and untrained[column] >= dense[column] - WITHIN
        lines.append(f"* {column.replace('_', ' ')}: **k = {k}** ({s[column]:.4f} vs "
                     f"all-to-all {dense[column]:.4f}); it needs {_pct(s['flops_vs_dense'])} "
                     f"of the loss FLOPs and {_pct(s['time_vs_dense'])} of the train time"
                     + (". The untrained ensemble is itself within 1 point, so this "
                        "criterion cannot tell graphs apart here" if vacuous else ""))
    if untrained:
        lines.append(f"* untrained: single {untrained['single_accuracy']:.4f}, ensemble "
                     f"{untrained['ensemble_accuracy']:.4f}")
    lines += ["", f"### Ring vs random (G_N^k, k {RING_EDGES}) at {RING_EDGES} edges, paired "
              "over seeds", "", "Points, bootstrap 95 % CI; p from the paired t-test, Holm "
              "over this table.", "", "| ring | seeds | Δ ensemble (pt, ring − random) [95 % CI] "
              "| p (t-test) | p (Holm) | Δ single (pt) [95 % CI] | p (t-test) | p (Holm) |",
              "|" + "---|" * 8]
    for r in rings:
        e, s = r["ensemble_accuracy"], r["single_accuracy"]
        lines.append(f"| {r['ring']} | {len(r['seeds'])} | {_points_ci(e)} | {e['p_t']:.3g} | "
                     f"{e['p_holm']:.3g} | {_points_ci(s)} | {s['p_t']:.3g} | "
                     f"{s['p_holm']:.3g} |")
    payload = {"settings": settings, "smallest_k_within_1pt": smallest, "ring_vs_random": rings}
    return payload, "\n".join(lines)


def _paired_by_seed(rows: Any, reference: Any) -> dict[str, dict[str, float]]:
    r"""Paired comparison of ``rows`` − ``reference`` (both indexed by seed) on common seeds.

    One entry per accuracy column, from :func:`graphens.stats.paired_difference` on the
    differences :math:`d_s` (bootstrap resampling seeded with 0): ``n``, ``diff``
    (:math:`\bar d`), ``sd`` (:math:`s_d`), ``t`` and ``p_t`` (paired t-test,
    :math:`t = \bar d / (s_d / \sqrt{n})`), ``ci_low`` / ``ci_high`` (bootstrap percentile
    95 % CI of :math:`\bar d`), and ``ci``, the half-width :math:`t_{0.975, n-1}\, s_d /
    \sqrt{n}` of the t interval (the error bars of :func:`plot_paired`). Empty when the two
    share no seed. :func:`_holm` adds ``p_holm`` once a table's comparisons are all made.
    """
    from scipy import stats

    seeds = sorted(set(rows.index) & set(reference.index))
    if not seeds:
        return {}
    out = {}
    for c in ACCURACIES:
        result = paired_difference(rows.loc[seeds, c].tolist(), reference.loc[seeds, c].tolist())
        half = (float(stats.t.ppf(0.975, result.n - 1)) * result.sd / math.sqrt(result.n)
                if result.n >= 2 else math.nan)
        out[c] = {"n": result.n, "diff": result.mean, "sd": result.sd, "t": result.t,
                  "p_t": result.p, "ci_low": result.ci_low, "ci_high": result.ci_high,
                  "ci": half}
    return out


def _holm(tests: list[dict[str, float]]) -> None:
    """Add ``p_holm`` to each test: Holm–Bonferroni over the ``p_t`` of one table's tests."""
    for test, p in zip(tests, holm([t["p_t"] for t in tests]), strict=True):
        test["p_holm"] = p


def _points_ci(test: dict[str, float]) -> str:
    """A paired difference and its bootstrap CI in points, e.g. ``+1.55 [+1.10, +2.02]``."""
    diff = f"{100 * test['diff']:+.2f}"
    if math.isnan(test["ci_low"]):
        return diff
    return f"{diff} [{100 * test['ci_low']:+.2f}, {100 * test['ci_high']:+.2f}]"


def _paired_with_references(settings: list[dict[str, Any]], per_seed: list[Any]) -> None:
    """Add each setting's paired test against all-to-all and its share of all-to-all's gain.

    The share is ``(acc - untrained) / (all-to-all - untrained)`` on the seed means: 0 at the
    untrained level, 1 at all-to-all's. Seed-to-seed spread (different fields and
    initialisations) is larger than most gaps between graphs; pairing by seed removes it.
    """
    index = {s["label"]: i for i, s in enumerate(settings) if s["k"] is None}
    if "all-to-all" not in index:
        return
    dense, dense_mean = per_seed[index["all-to-all"]], settings[index["all-to-all"]]
    untrained = settings[index["untrained"]] if "untrained" in index else None
    for s, rows in zip(settings, per_seed, strict=True):
        paired = _paired_by_seed(rows, dense)
        if not paired or paired[ACCURACIES[0]]["n"] < 2:
            continue
        s["paired"], s["share_of_gain"] = paired, {}
        for c in ACCURACIES:
            gain = dense_mean[c] - untrained[c] if untrained else math.nan
            s["share_of_gain"][c] = (s[c] - untrained[c]) / gain if gain else math.nan


def plot_paired(settings: list[dict[str, Any]], path: Path) -> Path | None:
    """Paired difference from all-to-all (points, 95 % CI over seeds) against edges."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    labels = sorted({s["label"] for s in settings if "paired" in s} - {"all-to-all"})
    for ax, column in zip(fig.subplots(1, 2), ACCURACIES, strict=True):
        for i, label in enumerate(labels):
            points = sorted((s["num_edges"], s["paired"][column]) for s in settings
                            if s["label"] == label and "paired" in s)
            shift = (i - (len(labels) - 1) / 2) * 0.5  # keep 18-20-edge graphs apart
            ax.errorbar([e + shift for e, _ in points], [100 * t["diff"] for _, t in points],
                        yerr=[0 if math.isnan(t["ci"]) else 100 * t["ci"] for _, t in points],
                        marker="o", ms=4, capsize=3, lw=1.2, label=label,
                        linestyle="-" if label == "G_N^k" else "none")
        ax.axhline(0, color="black", lw=1, label="all-to-all")
        ax.axhspan(-100 * WITHIN, 0, color="grey", alpha=0.1, lw=0, label="within 1 point")
        ax.set_xlabel("edges E")
        ax.set_ylabel("Δ vs all-to-all, same seed (points)")
        ax.set_title(column.replace("_", " "), fontsize=9)
        ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=100))


def _diff_cell(test: dict[str, float] | None) -> str:
    """A paired difference in points, its CI, t-test p and Holm p: ``+1.55 [+1.10, +2.02]
    (0.012; Holm 0.048)``."""
    if not test:
        return "–"
    diff = _points_ci(test)
    if math.isnan(test["p_t"]):
        return diff
    return f"{diff} ({test['p_t']:.2g}; Holm {test['p_holm']:.2g})"


def arms_summary(table: Any, axis: str, title: str,
                 reference: str = "untrained") -> tuple[dict[str, Any], str]:
    """Mean ± CI of each arm (label) at each value of ``axis``, then each arm − ``reference``.

    The second table pairs trials by seed: at each value, ``diff`` is the mean over seeds of
    ``acc(arm, seed) - acc(reference, seed)`` with its bootstrap 95 % CI and paired t-test
    p-value (raw and Holm-adjusted over the table), which removes the seed-to-seed spread
    (each seed draws its own fields and initialisation).
    """
    ok = _ok(table)
    labels = list(dict.fromkeys(ok["label"]))
    others = [label for label in labels if label != reference]
    rows, paired_rows, payload = [], [], []
    for value, group in ok.groupby(axis, sort=True):
        cells, arm_tests = [f"{value:g}"], []
        base = group[group["label"] == reference].set_index("seed")
        for label in labels:
            sub = group[group["label"] == label]
            stats = _stats(sub) if len(sub) else None
            entry = {axis: float(value), "label": label, **(stats or {})}
            cells += [_pm(stats["single_accuracy"], stats["single_accuracy_ci"]) if stats
                      else "–",
                      _pm(stats["ensemble_accuracy"], stats["ensemble_accuracy_ci"]) if stats
                      else "–"]
            if label != reference:
                paired = _paired_by_seed(sub.set_index("seed"), base)
                entry["paired_vs_" + reference] = paired
                arm_tests += [paired.get(c) for c in ACCURACIES]
            payload.append(entry)
        rows.append(cells)
        paired_rows.append((f"{value:g}", arm_tests))
    header = [title] + [f"{label} {kind}" for label in labels for kind in ("single",
                                                                              "ensemble")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if reference in labels and others:
        _holm([test for _, tests in paired_rows for test in tests if test])
        header = [title] + [f"{label} − {reference} {kind}" for label in others
                            for kind in ("single", "ensemble")]
        lines += ["", "Paired by seed, points [bootstrap 95 % CI] (paired t-test p; Holm over "
                  f"this table), each arm − {reference}:", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join([value, *map(_diff_cell, tests)]) + " |"
                  for value, tests in paired_rows]
    return {"rows": payload}, "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(SPECS), default=list(SPECS))
    parser.add_argument("--out", type=Path, default=None,
                        help="default benchmarks/out/sparse_vs_dense (…-smoke with --smoke)")
    parser.add_argument("--epochs", type=int, default=None, help="override the specs' 20")
    parser.add_argument("--max-train", type=int, default=None,
                        help="override the specs' 10000 (0: all 60 000)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--device", default=None, help="auto, cpu, cuda")
    parser.add_argument("--executor", choices=["local", "ray"], default="local")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--address", default=None)
    parser.add_argument("--figures", type=Path, default=HERE / "figures" / "sparse_vs_dense")
    parser.add_argument("--smoke", action="store_true",
                        help="digits, tiny MLP, 1 epoch: checks the pipeline in minutes")
    parser.add_argument("--report-only", action="store_true",
                        help="summarise the trials finished so far; run nothing")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke and args.seeds is None:
        args.seeds = [1, 2]
    root = args.out or HERE / "out" / ("sparse_vs_dense-smoke" if args.smoke
                                       else "sparse_vs_dense")
    sections, payload = [], {"parts": {}}
    for part in args.only:
        spec = build_spec(part, args)
        out = root / part
        if args.report_only:
            if not (out / "spec.json").exists():
                print(f"{part}: no sweep in {out} yet; skipped")
                continue
            table = write_table(out, load_spec(spec).trials)
        else:
            copied = reuse_finished(spec, out, root)
            if copied and not args.quiet:
                print(f"{part}: {copied} finished trial(s) copied from the other sweeps")
            table = graphens.sweep(spec, out, executor=args.executor, workers=args.workers,
                                   address=args.address, progress=not args.quiet)
        report = write_report(out, edge_tolerance=0.1 if part == "sparse" else 0.0)
        if part == "sparse":
            data, text = sparse_summary(table)
            paired = plot_paired(data["settings"], out / "report" / PAIRED_PLOT)
            if paired:
                report["plots"]["paired"] = paired
        elif part == "rf":
            data, text = arms_summary(table, "rf_fraction", "d")
        else:
            data, text = arms_summary(table, "nodes", "N")
        fixed = spec["fixed"]
        setup = (f"{fixed['dataset']}, {fixed.get('epochs')} epochs, max_train "
                 f"{fixed.get('max_train')}, seeds {spec['axes']['seed']}; "
                 f"{int((table['status'] == 'ok').sum())}/{len(table)} trials ok; "
                 f"train time {table['train_seconds'].sum() / 60:.0f} min, wall "
                 f"{table['total_seconds'].sum() / 60:.0f} min")
        figures = [p.name for p in report["plots"].values()]
        sections.append(f"## {spec['name']}\n\n{setup}\n\n{text}\n\n"
                        + "\n".join(f"![{name}]({part}/report/{name})" for name in figures))
        payload["parts"][part] = {"setup": setup, **data, "report": str(report["summary"])}
        if not args.smoke:
            for name in FIGURES[part]:
                source = out / "report" / name
                if source.exists():
                    args.figures.mkdir(parents=True, exist_ok=True)
                    shutil.copy(source, args.figures / f"{part}_{name}")
    command = "python benchmarks/sparse_vs_dense.py " + " ".join(argv or sys.argv[1:])
    markdown = ("# Sparse vs dense connectivity\n\n" + f"Command: `{command.strip()}`\n\n"
                + "\n\n".join(sections) + "\n")
    atomic_write_text(root / "summary.md", markdown)
    atomic_write_json(root / "summary.json", json.loads(json.dumps(payload, default=str)))
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
