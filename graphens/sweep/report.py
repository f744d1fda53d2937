"""Analysis of a sweep: plots, confidence intervals, rank correlations, paired tests.

:func:`write_report` reads a sweep's results table and writes, into ``DIR/report/`` by default:

* ``accuracy_vs_edges.png`` — single-node and ensemble accuracy (mean and 95 % CI over seeds)
  against the number of edges (interaction density on the top axis), one series per
  topology label, with the all-to-all and baseline (untrained, supervised, raw-input) levels
  as horizontal reference lines (the paper's figure 5); one row of panels per combination of
  the other swept conditions;
* ``accuracy_vs_compute.png`` — accuracy against the CLoSeR loss FLOPs per step and the
  training seconds per epoch;
* ``accuracy_vs_<axis>.png`` — accuracy against every other swept numeric run field (e.g.
  ``nodes``, ``rf_fraction``);
* ``accuracy_vs_graph_metrics.png`` (ensemble) and ``single_accuracy_vs_graph_metrics.png`` —
  accuracy against every graph metric that varies across the CLoSeR settings, over all
  topology families, each panel titled with its Spearman rank correlation (strongest first);
* ``report.md`` — the sweep's trials, a table of settings with 95 % CIs, the correlations,
  paired tests between topologies at matched edge counts (over seeds: mean paired difference
  with its bootstrap 95 % CI, paired t-test p raw and Holm-adjusted over the whole table,
  Wilcoxon signed-rank p, and the seed pairs needed for 80 % power, :mod:`graphens.stats`),
  the failed trials, and links to the plots.

A *setting* is one point of the sweep without its seed: statistics are over the seeds of a
setting. A *series* is a topology label, split further when the same label covers several
baselines, stop-gradients or families. *Conditions* are the other swept run fields.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import math
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from graphens.errors import GraphensError
from graphens.io import atomic_write_bytes, atomic_write_text
from graphens.stats import MAX_SEEDS, achieved_power, holm, paired_difference, seeds_for_power
from graphens.sweep.spec import EXTRA_FIELDS
from graphens.sweep.table import read_table

ACCURACIES = ("single_accuracy", "ensemble_accuracy")
#: Run fields that distinguish topologies (and baselines) rather than conditions.
_TOPOLOGY_COLUMNS = ("topology", "baseline", "stop_gradient", "plasticity")
#: Run fields never treated as swept conditions.
_IGNORED = ("seed", "device")
_MAX_FACETS = 6
#: Significance level and target power of the paired tests (and their Holm correction).
ALPHA = 0.05
POWER = 0.8
_NICE = {"single_accuracy": "single-node accuracy", "ensemble_accuracy": "ensemble accuracy",
         "nodes": "N (nodes)", "rf_fraction": "d (receptive-field fraction)",
         "num_edges": "edges E", "loss_flops_per_step": "loss FLOPs per step",
         "seconds_per_epoch": "train seconds per epoch"}


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, int]:
    """Mean, half-width of its ``level`` t-confidence interval, and n (NaN half-width if n<2)."""
    from scipy import stats

    clean = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(clean)
    if n == 0:
        return math.nan, math.nan, 0
    mean = sum(clean) / n
    if n < 2:
        return mean, math.nan, n
    sd = math.sqrt(sum((v - mean) ** 2 for v in clean) / (n - 1))
    return mean, float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n), n


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, int]:
    """Spearman's rank correlation, its p-value and n (NaN when undefined)."""
    import warnings

    from scipy import stats

    pairs = [(float(a), float(b)) for a, b in zip(x, y, strict=True)
             if a is not None and b is not None and not math.isnan(float(a))
             and not math.isnan(float(b))]
    n = len(pairs)
    if n < 3 or len({a for a, _ in pairs}) < 2 or len({b for _, b in pairs}) < 2:
        return math.nan, math.nan, n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.spearmanr([a for a, _ in pairs], [b for _, b in pairs])
    return float(result.statistic), float(result.pvalue), n


def paired_tests(a: Sequence[float], b: Sequence[float], *, seed: int = 0,
                 alpha: float = ALPHA, power: float = POWER) -> dict[str, float]:
    r"""Paired comparison of ``a - b`` over seeds: tests, bootstrap CI and power.

    :func:`graphens.stats.paired_difference` (mean :math:`\bar d`, sd :math:`s_d`, paired
    t-test :math:`t = \bar d / (s_d/\sqrt{n})`, bootstrap percentile ``1 - alpha`` CI of
    :math:`\bar d` from resampling pairs with ``seed``), the Wilcoxon signed-rank p-value, and
    :func:`graphens.stats.seeds_for_power` / :func:`graphens.stats.achieved_power` for the
    observed :math:`\bar d / s_d`.

    Returns
    -------
    dict
        ``n``, ``diff``, ``sd``, ``t``, ``p_t``, ``ci_low``, ``ci_high``, ``p_wilcoxon``,
        ``seeds_needed`` (int, ``math.inf`` beyond :data:`graphens.stats.MAX_SEEDS`, or None
        without an effect to power) and ``power`` (at the current ``n``); NaN where undefined.
    """
    import warnings

    from scipy import stats

    result = paired_difference(a, b, seed=seed, alpha=alpha)
    out: dict[str, Any] = {"n": result.n, "diff": result.mean, "sd": result.sd,
                           "t": result.t, "p_t": result.p, "ci_low": result.ci_low,
                           "ci_high": result.ci_high, "p_wilcoxon": math.nan,
                           "seeds_needed": seeds_for_power(result.mean, result.sd, alpha,
                                                           power),
                           "power": achieved_power(result.mean, result.sd, result.n, alpha)}
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    if len(diffs) >= 2 and any(d != 0 for d in diffs):
        with warnings.catch_warnings(), contextlib.suppress(ValueError):
            warnings.simplefilter("ignore")
            out["p_wilcoxon"] = float(stats.wilcoxon(a, b).pvalue)
    return out


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


def _run_field_names() -> set[str]:
    from graphens.experiment import RunConfig

    return {f.name for f in fields(RunConfig)} | set(EXTRA_FIELDS)


def _is_config(column: str, names: set[str]) -> bool:
    # "plasticity.*" columns are results.json's plasticity record (a measure), not the run
    # field "plasticity" (whose parameters are "plasticity_params.*").
    return column.split(".")[0] in names and not column.startswith("plasticity.")


def _varying(frame: Any, columns: Sequence[str]) -> list[str]:
    return [c for c in columns if frame[c].map(str).nunique() > 1]


class Analysis:
    """The finished trials of a sweep, grouped into series, conditions and settings."""

    def __init__(self, table: Any) -> None:
        if "status" not in table.columns:
            raise GraphensError("this table is not a graphens sweep table (no status column).")
        self.table = table
        frame = table[table["status"] == "ok"].copy()
        if frame.empty:
            raise GraphensError("the sweep has no finished trials yet; nothing to report "
                                "(run `graphens sweep` first, or see its failed trials).")
        names = _run_field_names()
        config = [c for c in frame.columns if _is_config(c, names) and c not in _IGNORED]
        varying = _varying(frame, config)
        self.conditions = [c for c in varying if c not in _TOPOLOGY_COLUMNS
                           and not c.startswith(("topology_params.", "plasticity_params."))]
        frame["series"] = self._series_names(frame)
        self.setting_columns = ["series", *[c for c in varying if c not in ("label",)]]
        self.frame = frame
        self.settings = self._settings()

    @staticmethod
    def _series_names(frame: Any) -> list[str]:
        names = []
        split = {label: _varying(group, [c for c in _TOPOLOGY_COLUMNS if c in group.columns])
                 for label, group in frame.groupby("label", sort=False)}
        for _, row in frame.iterrows():
            extra = [f"{c}={row[c]}" for c in split[row["label"]]]
            names.append(f"{row['label']} ({', '.join(extra)})" if extra else str(row["label"]))
        return names

    def _settings(self) -> Any:
        import pandas as pd

        rows = []
        keys = self.setting_columns
        frame = self.frame.copy()
        frame["_key"] = frame[keys].map(str).agg("|".join, axis=1)
        numeric = [c for c in frame.columns if c.startswith("graph.")
                   and pd.api.types.is_numeric_dtype(frame[c])]
        for _, group in frame.groupby("_key", sort=False):
            first = group.iloc[0]
            row = {c: first[c] for c in keys}
            row["label"] = first["label"]
            row["topology"] = first["topology"]
            row["baseline"] = first["baseline"]
            for column in ACCURACIES:
                mean, half, n = mean_ci(group[column].tolist())
                row[column], row[f"{column}.ci"], row["seeds"] = mean, half, n
            for column in ("num_edges", "num_nodes", "loss_flops_per_step",
                           "seconds_per_epoch", *numeric):
                if column in group.columns:
                    row[column] = float(pd.to_numeric(group[column], errors="coerce").mean())
            rows.append(row)
        return pd.DataFrame(rows)

    # Roles of settings ---------------------------------------------------------------------

    def references(self, settings: Any) -> Any:
        """Baselines other than CLoSeR, and all-to-all CLoSeR: the horizontal lines."""
        return settings[(settings["baseline"] != "closer")
                        | (settings["topology"] == "all-to-all")]

    def trained(self, settings: Any) -> Any:
        """CLoSeR settings (every topology, all-to-all included)."""
        return settings[settings["baseline"] == "closer"]

    def facets(self) -> list[tuple[str, Any]]:
        """(title, settings) for each combination of the swept conditions."""
        if not self.conditions:
            return [("", self.settings)]
        out = []
        grouped = self.settings.groupby(self.conditions, sort=True, dropna=False)
        for values, group in grouped:
            values = values if isinstance(values, tuple) else (values,)
            title = ", ".join(f"{_short(c)}={_fmt(v)}"
                              for c, v in zip(self.conditions, values, strict=True))
            out.append((title, group))
        return out


def _short(column: str) -> str:
    return {"rf_fraction": "d", "nodes": "N"}.get(column, column)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------


def _figure(rows: int, cols: int, width: float = 4.2, height: float = 3.2) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def _save(fig: Any, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return atomic_write_bytes(path, buffer.getvalue())


class _Colours:
    def __init__(self, names: Sequence[str]) -> None:
        from matplotlib import colormaps

        distinct = sorted(set(names))  # callers pass one name per row: count series, not rows
        cmap = colormaps["tab10" if len(distinct) <= 10 else "tab20"]
        self.colour = {name: cmap(i % cmap.N) for i, name in enumerate(distinct)}

    def __call__(self, name: str) -> Any:
        return self.colour.get(name, "black")


def _errorbars(ax: Any, x: Sequence[float], settings: Any, column: str, colour: Any,
               label: str, line: bool = True, hollow: bool = False, shift: float = 0.0,
               ) -> None:
    order = sorted(range(len(x)), key=lambda i: x[i])
    xs = [x[i] + shift for i in order]
    ys = [settings[column].iloc[i] for i in order]
    errs = [0 if math.isnan(e) else e for e in (settings[f"{column}.ci"].iloc[i]
                                                   for i in order)]
    ax.errorbar(xs, ys, yerr=errs, color=colour, marker="o", ms=4, capsize=3,
                linestyle="-" if line and len(xs) > 1 else "none", label=label,
                mfc="white" if hollow else colour, lw=1.2)


def _reference_lines(ax: Any, refs: Any, column: str, colours: _Colours) -> None:
    for _, ref in refs.iterrows():
        style = ":" if ref["baseline"] == "closer" else "--"
        ax.axhline(ref[column], color=colours(ref["series"]), linestyle=style, lw=1.2,
                   label=f"{ref['series']} level")
        if not math.isnan(ref[f"{column}.ci"]):
            ax.axhspan(ref[column] - ref[f"{column}.ci"], ref[column] + ref[f"{column}.ci"],
                       color=colours(ref["series"]), alpha=0.08, lw=0)


def plot_edges(analysis: Analysis, path: Path, colours: _Colours) -> Path | None:
    """Accuracy against edges (figure 5 of the paper)."""
    facets = analysis.facets()[:_MAX_FACETS]
    fig, axes = _figure(len(facets), 2, width=5.0, height=3.6)
    for row, (title, settings) in enumerate(facets):
        refs = analysis.references(settings)
        trained = analysis.trained(settings)
        for col, column in enumerate(ACCURACIES):
            ax = axes[row][col]
            groups = list(trained.groupby("series", sort=True))
            span = max(1.0, float(settings["num_edges"].max() - settings["num_edges"].min()))
            for i, (series, group) in enumerate(groups):
                # a small sideways shift keeps series at the same edge count apart
                shift = (i - (len(groups) - 1) / 2) * 0.006 * span
                _errorbars(ax, group["num_edges"].tolist(), group, column, colours(series),
                           series, shift=shift)
            _reference_lines(ax, refs, column, colours)
            ax.set_xlabel(_NICE["num_edges"])
            ax.set_ylabel(_NICE[column])
            ax.set_title(f"{_NICE[column]}" + (f"\n{title}" if title else ""), fontsize=9)
            ax.grid(alpha=0.3)
            nodes = settings["num_nodes"].dropna().unique()
            if len(nodes) == 1 and nodes[0] > 1:
                pairs = float(nodes[0] * (nodes[0] - 1))
                top = ax.secondary_xaxis("top", functions=(lambda e, p=pairs: e / p,
                                                           lambda d, p=pairs: d * p))
                top.set_xlabel("density E / N(N-1)", fontsize=8)
        axes[row][1].legend(fontsize=7, loc="best")
    return _save(fig, path)


def plot_compute(analysis: Analysis, path: Path, colours: _Colours) -> Path | None:
    """Accuracy against loss FLOPs per step and train seconds per epoch."""
    trained = analysis.trained(analysis.settings)
    trained = trained[trained["loss_flops_per_step"].fillna(0) > 0]
    if trained.empty:
        return None
    refs = analysis.references(analysis.settings)
    refs = refs[refs["baseline"] != "closer"]
    fig, axes = _figure(2, 2)
    for row, column in enumerate(ACCURACIES):
        for col, x in enumerate(("loss_flops_per_step", "seconds_per_epoch")):
            ax = axes[row][col]
            for series, group in trained.groupby("series", sort=True):
                _errorbars(ax, group[x].tolist(), group, column, colours(series), series,
                           line=False)
            _reference_lines(ax, refs.drop_duplicates("series"), column, colours)
            if x == "loss_flops_per_step":
                from matplotlib.ticker import NullFormatter
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(_NICE[x])
            ax.set_ylabel(_NICE[column])
            ax.grid(alpha=0.3)
    axes[0][1].legend(fontsize=7, loc="best")
    return _save(fig, path)


def plot_axis(analysis: Analysis, axis: str, path: Path, colours: _Colours) -> Path:
    """Accuracy against one swept run field, one line per series (and other condition)."""
    settings = analysis.settings.copy()
    others = [c for c in analysis.setting_columns if c not in ("series", axis)]
    lines = []
    for _, row in settings.iterrows():
        same = settings[settings["series"] == row["series"]]
        extra = [f"{_short(c).replace('topology_params.', '')}={_fmt(row[c])}"
                 for c in others if same[c].map(str).nunique() > 1]
        lines.append(f"{row['series']} ({', '.join(extra)})" if extra else row["series"])
    settings["_line"] = lines
    fig, axes = _figure(1, 2, width=5.0, height=3.6)
    for col, column in enumerate(ACCURACIES):
        ax = axes[0][col]
        for line, group in settings.groupby("_line", sort=True):
            _errorbars(ax, group[axis].astype(float).tolist(), group, column,
                       colours(group["series"].iloc[0]), line)
        ax.set_xlabel(_NICE.get(axis, axis))
        ax.set_ylabel(_NICE[column])
        ax.grid(alpha=0.3)
    axes[0][1].legend(fontsize=7, loc="best")
    return _save(fig, path)


def metric_columns(analysis: Analysis) -> list[str]:
    """Numeric graph metrics that vary across the CLoSeR settings."""
    import pandas as pd

    trained = analysis.trained(analysis.settings)
    out = []
    for column in analysis.settings.columns:
        if not column.startswith("graph.") or not pd.api.types.is_numeric_dtype(
                analysis.settings[column]):
            continue
        values = trained[column].dropna()
        if values.nunique() > 1:
            out.append(column)
    return out


def plot_metrics(analysis: Analysis, metrics: Sequence[str], correlations: dict[str, Any],
                 column: str, path: Path, colours: _Colours) -> Path | None:
    """``column`` against each graph metric, strongest rank correlation first."""
    if not metrics:
        return None

    def strength(metric: str) -> float:
        rho = correlations[metric][column][0]
        return -abs(rho) if not math.isnan(rho) else 0.0

    metrics = sorted(metrics, key=strength)
    trained = analysis.trained(analysis.settings)
    cols = min(5, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axes = _figure(rows, cols, width=2.6, height=2.3)
    for i, metric in enumerate(metrics):
        ax = axes[i // cols][i % cols]
        for series, group in trained.groupby("series", sort=True):
            ax.scatter(group[metric], group[column], s=16, color=colours(series), label=series)
        rho, p, _ = correlations[metric][column]
        ax.set_title(f"{metric[len('graph.'):]}\nrho={rho:.2f} (p={p:.2g})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if i % cols == 0:
            ax.set_ylabel(_NICE[column], fontsize=8)
    for j in range(len(metrics), rows * cols):
        axes[j // cols][j % cols].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles[:20], labels[:20], fontsize=7, loc="outside right upper")
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def matched_comparisons(analysis: Analysis, compare: Sequence[tuple[str, str]] | None = None,
                        tolerance: float = 0.0) -> list[dict[str, Any]]:
    """Paired tests over seeds between CLoSeR series at matched edge counts, or named pairs.

    Without ``compare``, every pair of CLoSeR series at matched edge counts is tested. Pairs
    named in ``compare`` may be baselines, and where the two have no edge count in common
    they are tested at whatever counts they have (e.g. ``("all-to-all", "untrained")`` or
    ``("directed ring", "all-to-all")``: naming them says they are worth comparing). Each row
    holds, per accuracy column, :func:`paired_tests` (``<column>.diff``, ``.ci_low``,
    ``.ci_high``, ``.p_t``, ``.p_wilcoxon``, ``.seeds_needed``, ``.power``, …) and
    ``<column>.p_holm``, the Holm-adjusted t-test p-value over every comparison returned
    (both accuracy columns of every row: one family).

    Parameters
    ----------
    compare : list of (series or label, series or label), optional
        Only these pairs (default: every pair of CLoSeR series at matched edge counts).
    tolerance : float
        Edge counts match when ``|E_a - E_b| <= tolerance * max(E_a, E_b)``.
    """
    frame = (analysis.frame if compare
             else analysis.frame[analysis.frame["baseline"] == "closer"])
    keys = ["series", *analysis.conditions]
    groups = {}
    for key, group in frame.groupby(keys, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        for edges, sub in group.groupby("num_edges"):
            per_seed = sub.groupby("seed")[list(ACCURACIES)].mean()
            groups[(key[0], key[1:], int(edges))] = (per_seed, sub["label"].iloc[0])
    wanted = [tuple(pair) for pair in compare] if compare else None
    candidates = []  # (a, b, index of the named pair or None, edges matched)
    for (a, b) in itertools.combinations(sorted(groups), 2):
        (series_a, cond_a, edges_a), (series_b, cond_b, edges_b) = a, b
        if series_a == series_b or cond_a != cond_b:
            continue
        matched = abs(edges_a - edges_b) <= tolerance * max(edges_a, edges_b)
        names_a, names_b = {series_a, groups[a][1]}, {series_b, groups[b][1]}
        named = None if wanted is None else next(
            (k for k, (x, y) in enumerate(wanted)
             if (x in names_a and y in names_b) or (x in names_b and y in names_a)), None)
        if wanted is not None and named is None:
            continue
        candidates.append((a, b, named, matched))
    has_match = {named for _, _, named, matched in candidates if matched}
    out = []
    for a, b, named, matched in candidates:
        if not matched and (wanted is None or named in has_match):
            continue
        (series_a, cond_a, edges_a), (series_b, _, edges_b) = a, b
        seeds_a, label_a = groups[a]
        seeds_b, label_b = groups[b]
        common = seeds_a.index.intersection(seeds_b.index)
        if len(common) < 2:
            continue
        row = {"a": series_a, "b": series_b, "edges_a": edges_a, "edges_b": edges_b,
               "conditions": ", ".join(f"{_short(c)}={_fmt(v)}" for c, v in
                                       zip(analysis.conditions, cond_a, strict=True))}
        for column in ACCURACIES:
            tests = paired_tests(seeds_a.loc[common, column].tolist(),
                                 seeds_b.loc[common, column].tolist())
            row.update({f"{column}.{k}": v for k, v in tests.items()})
        row["n"] = len(common)
        out.append(row)
    _holm_over(out)
    return out


def _holm_over(tests: list[dict[str, Any]]) -> None:
    """Add ``<accuracy>.p_holm``: Holm over every t-test p-value of ``tests`` (both accuracies)."""
    keys = [(i, column) for i in range(len(tests)) for column in ACCURACIES]
    adjusted = holm([tests[i][f"{column}.p_t"] for i, column in keys])
    for (i, column), p in zip(keys, adjusted, strict=True):
        tests[i][f"{column}.p_holm"] = p


# --------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------


def _pm(mean: float, half: float, digits: int = 3) -> str:
    if math.isnan(mean):
        return "–"
    if math.isnan(half):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def _p(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.3g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _diff_ci(test: dict[str, Any], column: str) -> str:
    diff = test[f"{column}.diff"]
    low, high = test[f"{column}.ci_low"], test[f"{column}.ci_high"]
    if math.isnan(low):
        return f"{diff:+.4f}"
    return f"{diff:+.4f} [{low:+.4f}, {high:+.4f}]"


def _needed(test: dict[str, Any], column: str) -> str:
    needed, power = test[f"{column}.seeds_needed"], test[f"{column}.power"]
    if needed is None:
        return "–"
    count = f"> {MAX_SEEDS}" if math.isinf(needed) else str(needed)
    return count if math.isnan(power) else f"{count} ({power:.2f})"


def _tests_table(tests: list[dict[str, Any]]) -> str:
    """The paired-tests table: per accuracy Δ [bootstrap CI], p, Holm p, seeds for power."""
    power = f"seeds for {POWER:.0%} power at α {ALPHA:g} (power now)".replace("%", " %")
    header = ["a", "b", "edges", "conditions", "seeds"]
    for nice in ("ensemble", "single"):
        header += [f"Δ {nice} [95 % CI]", "p (t)", "p (Holm)"]
        header += ["p (Wilcoxon)"] if nice == "ensemble" else []
        header += [power]
    rows = []
    for t in tests:
        row = [t["a"], t["b"], f"{t['edges_a']}/{t['edges_b']}", t["conditions"] or "–", t["n"]]
        for column in ("ensemble_accuracy", "single_accuracy"):
            row += [_diff_ci(t, column), _p(t[f"{column}.p_t"]), _p(t[f"{column}.p_holm"])]
            row += [_p(t[f"{column}.p_wilcoxon"])] if column == "ensemble_accuracy" else []
            row += [_needed(t, column)]
        rows.append(row)
    return _table(header, rows)


def _tests_sentence(tests: list[dict[str, Any]]) -> str:
    """How many differences survive Holm, and how many this many seeds cannot answer."""
    results = [(t[f"{c}.p_holm"], t[f"{c}.seeds_needed"], t["n"]) for t in tests
               for c in ACCURACIES]
    tested = [r for r in results if not math.isnan(r[0])]
    survive = sum(p <= ALPHA for p, _, _ in tested)
    short = sum(needed is not None and needed > n and p > ALPHA for p, needed, n in tested)
    return (f"{survive} of {len(tested)} differences (ensemble and single-node, every row: one "
            f"family) survive Holm's correction at α {ALPHA:g}. The CIs are bootstrap "
            f"percentile intervals of the mean paired difference (pairs resampled). {short} of "
            f"the others would need more seed pairs than were run for {POWER:.0%} power at "
            f"α {ALPHA:g} against the difference observed: not answerable at this budget (a "
            "large p there is no evidence of no difference).").replace("%", " %")


def summary_markdown(analysis: Analysis, name: str, correlations: dict[str, Any],
                     tests: list[dict[str, Any]], plots: dict[str, Path], notes: list[str],
                     ) -> str:
    """The Markdown summary of a sweep."""
    table = analysis.table
    counts = table["status"].value_counts().to_dict()
    status = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "failed", "pending"))
    lines = [f"# Sweep report: {name}", "",
             f"{len(table)} trials: {status}. Means over seeds with 95 % t-confidence "
             "intervals."]
    if analysis.conditions:
        lines.append(f"Swept conditions: {', '.join(analysis.conditions)}.")
    lines += ["", "## Accuracy by setting", ""]
    settings = analysis.settings.sort_values(["series", *analysis.conditions, "num_edges"])
    rows = []
    for _, s in settings.iterrows():
        flops = s.get("loss_flops_per_step", math.nan)
        rows.append([s["series"], ", ".join(f"{_short(c)}={_fmt(s[c])}"
                                            for c in analysis.conditions) or "–",
                     int(s["num_edges"]), int(s["seeds"]),
                     _pm(s["single_accuracy"], s["single_accuracy.ci"]),
                     _pm(s["ensemble_accuracy"], s["ensemble_accuracy.ci"]),
                     "–" if not flops else f"{flops / 1e9:.3g}",
                     f"{s.get('seconds_per_epoch', math.nan):.2f}"])
    lines.append(_table(["series", "conditions", "edges", "seeds", "single (95 % CI)",
                         "ensemble (95 % CI)", "loss GFLOP/step", "s/epoch"], rows))
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{key}]({path.name})" for key, path in plots.items()]
    if correlations:
        lines += ["", "## Accuracy against graph metrics (Spearman rank correlation over "
                  "CLoSeR settings)", ""]
        rows = []
        for metric, values in sorted(correlations.items(), key=lambda kv: -abs(
                kv[1]["ensemble_accuracy"][0]) if not math.isnan(
                    kv[1]["ensemble_accuracy"][0]) else 0):
            rho_e, p_e, n = values["ensemble_accuracy"]
            rho_s, p_s, _ = values["single_accuracy"]
            rows.append([metric[len("graph."):], _p(rho_e), _p(p_e), _p(rho_s), _p(p_s), n])
        lines.append(_table(["metric", "rho ensemble", "p", "rho single", "p", "settings"],
                            rows))
    if tests:
        lines += ["", "## Paired tests at matched edge counts (over seeds; Δ = a − b)", ""]
        lines.append(_tests_table(tests))
        lines += ["", _tests_sentence(tests)]
    failed = table[table["status"] == "failed"]
    if len(failed):
        lines += ["", "## Failed trials", ""]
        lines.append(_table(["id", "label", "error"],
                            [[r["id"], r["label"], str(r["error"]).replace("|", "/")[:200]]
                             for _, r in failed.iterrows()]))
    if notes:
        lines += ["", "## Notes", "", *[f"* {note}" for note in notes]]
    return "\n".join(lines) + "\n"


def write_report(source: str | Path, dest: str | Path | None = None, *,
                 compare: Sequence[tuple[str, str]] | None = None,
                 edge_tolerance: float = 0.0, name: str | None = None) -> dict[str, Any]:
    """Write the plots and ``report.md`` of a sweep.

    Parameters
    ----------
    source : path
        A sweep directory (or its ``results.parquet`` / ``results.csv``).
    dest : path, optional
        Where the report goes (default ``<sweep dir>/report``).
    compare : list of (str, str), optional
        Pairs of series/labels for the paired tests (default: every pair at matched edges).
    edge_tolerance : float
        Relative difference of edge counts still counted as matched in the paired tests.
    name : str, optional
        Title (default: the sweep's name from ``spec.json``, else the directory name).

    Returns
    -------
    dict
        ``summary`` (path of report.md), ``plots`` (name -> path), ``settings`` (DataFrame),
        ``correlations`` and ``tests``.
    """
    source = Path(source)
    folder = source if source.is_dir() else source.parent
    dest = Path(dest) if dest is not None else folder / "report"
    if name is None:
        from graphens.sweep.table import read_json
        record = read_json(folder / "spec.json") or {}
        name = str(record.get("name") or folder.name)
    analysis = Analysis(read_table(source))
    metrics = metric_columns(analysis)
    trained = analysis.trained(analysis.settings)
    correlations = {m: {c: spearman(trained[m].tolist(), trained[c].tolist())
                        for c in ACCURACIES} for m in metrics}
    tests = matched_comparisons(analysis, compare, edge_tolerance)
    notes: list[str] = []
    plots: dict[str, Path] = {}
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        notes.append("matplotlib is not installed, so no plots were drawn: pip install "
                     "'graphens[plot]'.")
    else:
        colours = _Colours(analysis.settings["series"].tolist())
        if len(analysis.facets()) > _MAX_FACETS:
            notes.append(f"accuracy_vs_edges shows the first {_MAX_FACETS} of "
                         f"{len(analysis.facets())} condition combinations.")
        drawn = {
            "accuracy vs edges": plot_edges(analysis, dest / "accuracy_vs_edges.png", colours),
            "accuracy vs compute": plot_compute(analysis, dest / "accuracy_vs_compute.png",
                                                colours),
        }
        import pandas as pd
        for axis in analysis.conditions:
            if pd.api.types.is_numeric_dtype(analysis.settings[axis]):
                drawn[f"accuracy vs {axis}"] = plot_axis(
                    analysis, axis, dest / f"accuracy_vs_{axis}.png", colours)
        drawn["ensemble accuracy vs graph metrics"] = plot_metrics(
            analysis, metrics, correlations, "ensemble_accuracy",
            dest / "accuracy_vs_graph_metrics.png", colours)
        drawn["single-node accuracy vs graph metrics"] = plot_metrics(
            analysis, metrics, correlations, "single_accuracy",
            dest / "single_accuracy_vs_graph_metrics.png", colours)
        plots = {k: v for k, v in drawn.items() if v is not None}
    if analysis.settings["single_accuracy.ci"].isna().all():
        notes.append("every setting has a single seed, so there are no confidence intervals "
                     "or paired tests; add seeds to the spec's axes.")
    text = summary_markdown(analysis, name, correlations, tests, plots, notes)
    summary = atomic_write_text(dest / "report.md", text)
    return {"summary": summary, "plots": plots, "settings": analysis.settings,
            "correlations": correlations, "tests": tests}
