"""The paper's figures from one command: five :func:`graphens.sweep` experiments and a report.

Urbach & Schneidman (2025), restated in ``method.md``; each experiment is one sweep spec with its
own sweep directory (``--out``, default ``benchmarks/out/paper/<dataset>-<budget>/<figure>``), run
seed by seed (every arm of seed 1, then of seed 2, ...) so that a run cut short still has paired
arms, and resumable by rerunning the same command:

* ``arms`` (fig. 2b/c): N 10 all-to-all, Gaussian fields σ 2 px, d 0.1, the MLP; CLoSeR against
  the untrained, supervised and raw-input baselines (same masks and initialisation per seed);
* ``d`` (fig. 3): CLoSeR and supervised against the receptive-field fraction d;
* ``nodes`` (fig. 2d): CLoSeR, all-to-all, against the number of nodes N;
* ``topologies`` (fig. 5): teacher-side stop-gradient for the sparse graphs, G_N^k (k ordered
  pairs, weight 1), the directed ring (2 laterals, 20 edges) and the bidirectional ring
  (1 lateral, 20 edges), against all-to-all (no stop-gradient) and the untrained ensemble;
* ``vit`` (fig. 6): the ViT-lite encoder on contiguous and random patch fields (4×4 patches),
  CLoSeR and untrained against d, supervised at the smallest d.

Budgets (``--budget``):

* ``smoke`` — digits only (scikit-learn's 8×8 images, offline): 1 seed, 1 epoch, a tiny MLP
  (hidden 32, D 16; ViT-lite D 16 on 2×2 patches, since 8×8 images hold only four 4×4 ones),
  τ 0.05, two values per axis; 28 trials (23 distinct), seconds each. It checks the pipeline,
  not the paper.
* ``quick`` — Fashion-MNIST (or CIFAR-10) on a few hours of 2 CPU cores: seeds 1–3, 5 epochs on a
  seeded random 10 000 training images (the same for every trial), all 10 000 test images, bf16,
  τ 0.1; 111 trials (93 distinct).
  **τ 0.1 replaces the paper's 10** because at CPU budgets τ 10 trains nothing: measured on
  Fashion-MNIST, 5 epochs on 10k images, all-to-all, seed 1, single node: untrained 0.635,
  τ 10 0.630, τ 1 0.643, τ 0.1 0.651.
* ``full`` — the paper's protocol, meant for a GPU: seeds 1–10, τ 10, all the data, 2000 epochs
  (the paper's count); 530 trials (470 distinct). Trials that can co-train are packed into
  fleets (``pack="on"`` of :func:`graphens.sweep`, :mod:`graphens.fleet`) unless ``--pack`` says
  otherwise.

Trials that two experiments share (the N 10, d 0.1 all-to-all CLoSeR ensemble is in four of
them, the untrained and supervised ones in two) train once: a finished trial found in a sibling
experiment's directory is copied, not retrained (a trial's id hashes its whole configuration).

The report (``--tables``, ``--figures-dir``): per experiment a Markdown table and a CSV of mean ±
95 % CI over seeds (single-node and ensemble accuracy, the agreement score where measured) per
arm and point, the paired differences by seed (:func:`graphens.stats.paired_difference`, Holm
over each experiment's family), a figure drawn like the paper's, and ``summary.md``: for every
experiment the shapes ``method.md`` asks to reproduce and whether our numbers show them. For
CIFAR-10 the published numbers (:data:`PUBLISHED`) are drawn beside ours. Usage::

    python benchmarks/paper.py --dataset digits --budget smoke          # a minute or two
    python benchmarks/paper.py --dataset fashion-mnist --budget quick --workers 2
    python benchmarks/paper.py --dataset fashion-mnist --budget quick --report-only
    python benchmarks/paper.py --dataset cifar10 --budget full --figures arms nodes
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FIGURES = ("arms", "d", "nodes", "topologies", "vit")
PAPER_FIGURE = {"arms": "fig. 2b/c", "d": "fig. 3", "nodes": "fig. 2d", "topologies": "fig. 5",
                "vit": "fig. 6"}
TITLES = {"arms": "CLoSeR against its baselines", "d": "accuracy against d",
          "nodes": "accuracy against N", "topologies": "sparse graphs against all-to-all",
          "vit": "ViT-lite against d"}
BUDGETS = ("smoke", "quick", "full")
#: The datasets each budget is made for.
BUDGET_DATASETS = {"smoke": ("digits",), "quick": ("fashion-mnist", "cifar10"),
                   "full": ("fashion-mnist", "cifar10")}
DATASET_NAMES = {"digits": "digits", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
CLOSER, SUPERVISED, UNTRAINED, RAW = "CLoSeR", "supervised", "untrained", "raw input"
GNK, DENSE = "G_N^k", "all-to-all"
RINGS = ("directed ring", "ring")
MEASURES = ("single_accuracy", "ensemble_accuracy", "agreement.mean")
SHORT = {"single_accuracy": "single", "ensemble_accuracy": "ensemble",
         "agreement.mean": "agreement"}
#: Besides the label (the arm), the columns that make a point of each experiment.
POINT_KEYS: dict[str, tuple[str, ...]] = {
    "arms": (), "d": ("rf_fraction",), "nodes": ("nodes",),
    "topologies": ("topology_params.k",), "vit": ("rf", "rf_fraction")}
#: "Within one point" of a reference: how the shape checks read "matches".
TOLERANCE = 0.01
TAU_NOTE = ("τ 0.1 replaces the paper's 10: at CPU budgets τ 10 trains nothing (Fashion-MNIST, "
            "5 epochs on 10k images, all-to-all, seed 1, single node: untrained 0.635, τ 10 "
            "0.630, τ 1 0.643, τ 0.1 0.651).")

#: What each budget runs. ``fixed`` holds the run fields shared by every experiment; the grids
#: are those of the swept axes; ``vit`` the ViT-lite's own fields.
BUDGET_SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {"seeds": [1], "d": [0.1, 0.25], "nodes": [2, 3], "k": [10, 20],
              "vit_d": [0.1, 0.25], "patch": 2,
              "fixed": {"hidden": [32], "dim": 16, "tau": 0.05, "epochs": 1},
              "vit": {"hidden": [32, 16], "dim": 16}},
    "quick": {"seeds": [1, 2, 3], "d": [0.05, 0.1, 0.2, 0.4], "nodes": [2, 3, 5, 10],
              "k": [10, 20, 50], "vit_d": [0.1, 0.25], "patch": 4,
              "fixed": {"tau": 0.1, "epochs": 5, "max_train": 10000, "precision": "bf16"},
              "vit": {}},
    "full": {"seeds": list(range(1, 11)), "d": [0.05, 0.1, 0.15, 0.2, 0.3, 0.5],
             "nodes": [2, 3, 5, 10], "k": [10, 20, 30, 50, 70], "vit_d": [0.1, 0.2, 0.3, 0.5],
             "patch": 4, "fixed": {"tau": 10.0, "epochs": 2000}, "vit": {}},
}

#: The paper's published numbers (CIFAR-10, N 10, MLP, Gaussian σ 2, d 0.1, mean of 10 seeds):
#: ``../shared/method.md`` §8 (the arms table, the N sweep, the topology results). The ViT-lite
#: pair (paper fig. 6) is not in method.md; it comes from issue 14's brief.
PUBLISHED: dict[str, Any] = {
    "arms": {UNTRAINED: {"single": 0.305, "ensemble": 0.466},
             CLOSER: {"single": 0.432, "ensemble": 0.621},
             SUPERVISED: {"single": 0.433, "ensemble": 0.658}},
    "nodes": {"single": {2: 0.354, 3: 0.394, 5: 0.419, 10: 0.432}},
    "topologies": {"G_N^k, k 50": {"single": 0.41, "ensemble": 0.60},
                   DENSE: {"single": 0.41, "ensemble": 0.60},
                   "directed ring": {"single": 0.39}, "ring": {"single": 0.39},
                   "G_N^k, k 20": {"single": 0.37}},
    "vit": {(CLOSER, "contiguous", 0.1): {"single": 0.477},
            (UNTRAINED, "contiguous", 0.1): {"single": 0.290}},
}
#: method.md's "Shapes to reproduce on any dataset", by experiment.
SHAPES = {
    "arms": "agreement score rises far above chance (≈ 0.6 at d 0.1) while supervised nodes "
            "stay at chance",
    "d": "CLoSeR single-encoder accuracy matches supervised at small d, peaks at small d "
         "(0.1–0.15) and falls for larger fields, while supervised keeps rising",
    "nodes": "more nodes help: single-encoder accuracy 0.354 (N 2), 0.394 (3), 0.419 (5), "
             "0.432 (10)",
    "topologies": "sparse graphs are nearly as good as all-to-all (G_N^k 0.41 / 0.60 from "
                  "k ≈ 50, all-to-all 0.41 / 0.60); rings with 20 edges beat random graphs "
                  "with 20 edges (0.39 vs 0.37 single)",
    "vit": "(paper fig. 6, not in method.md's list) ViT-lite CLoSeR beats the untrained "
           "ViT-lite: contiguous fields, d 0.1, single 0.477 vs 0.290",
}


# --------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------


def base_fields(dataset: str, budget: str) -> dict[str, Any]:
    """Run fields shared by every experiment of a budget (the paper's main model, method.md)."""
    return {"dataset": dataset, "nodes": 10, "rf": "gaussian", "rf_fraction": 0.1,
            "rf_params": {"sigma": 2.0}, **BUDGET_SETTINGS[budget]["fixed"]}


def build_spec(figure: str, dataset: str, budget: str) -> dict[str, Any]:
    """The :func:`graphens.sweep` spec of one experiment.

    Parameters
    ----------
    figure : {"arms", "d", "nodes", "topologies", "vit"}
        The experiment.
    dataset : str
        A vision dataset of :mod:`graphens.datasets` (digits for ``smoke``).
    budget : {"smoke", "quick", "full"}
        Seeds, epochs, data subset, τ and grids (:data:`BUDGET_SETTINGS`).

    Returns
    -------
    dict
        A spec dict (``name``, ``fixed``, ``axes``, ``topologies``) that
        :func:`graphens.sweep.spec.load_spec` reads.
    """
    settings = BUDGET_SETTINGS[budget]
    fixed = base_fields(dataset, budget)
    axes: dict[str, list[Any]] = {"seed": list(settings["seeds"])}
    dense = {"name": "all-to-all", "label": CLOSER}
    untrained = {"name": "all-to-all", "label": UNTRAINED, "baseline": "untrained"}
    supervised = {"name": "all-to-all", "label": SUPERVISED, "baseline": "supervised"}
    if figure == "arms":
        topologies = [untrained, dense, supervised,
                      {"name": "all-to-all", "label": RAW, "baseline": "raw-input"}]
    elif figure == "d":
        del fixed["rf_fraction"]
        axes["rf_fraction"] = list(settings["d"])
        # untrained too: absolute accuracy rises with d for any encoder (more pixels), so the
        # paper's peak shows in the gain over untrained nodes with the same fields
        topologies = [dense, supervised, untrained]
    elif figure == "nodes":
        del fixed["nodes"]
        axes["nodes"] = list(settings["nodes"])
        topologies = [dense]
    elif figure == "topologies":
        # The paper's sparse experiments stop the gradient on the teacher side; its dense
        # reference (and the untrained ensemble) do not.
        fixed["stop_gradient"] = "teacher"
        topologies = [{"name": "gnk", "label": GNK, "axes": {"k": list(settings["k"])}},
                      {"name": "directed-ring", "label": "directed ring",
                       "params": {"laterals": 2}},
                      {"name": "ring", "label": "ring", "params": {"laterals": 1}},
                      {**dense, "label": DENSE, "stop_gradient": "none"},
                      {**untrained, "stop_gradient": "none"}]
    elif figure == "vit":
        del fixed["rf_fraction"], fixed["rf"]
        fixed.update({"encoder": "vit-lite", "rf_params": {"patch": settings["patch"]},
                      **settings["vit"]})
        axes.update({"rf": ["contiguous", "patches"], "rf_fraction": list(settings["vit_d"])})
        # supervised nodes as the reference at the smallest d only (the issue's benchmark:
        # d 0.1): a trained arm per d would double the experiment's cost
        topologies = [dense, untrained, {**supervised, "rf_fraction": settings["vit_d"][0]}]
    else:
        raise ValueError(f"unknown figure {figure!r}; choose one of {', '.join(FIGURES)}")
    return {"name": f"paper-{figure}-{dataset}-{budget}", "keep": "results",
            "description": f"{PAPER_FIGURE[figure]}: {TITLES[figure]} ({dataset}, {budget})",
            "fixed": fixed, "axes": axes, "topologies": topologies}


def trial_counts(dataset: str, budget: str) -> dict[str, int]:
    """Trials per experiment of a budget (after :func:`~graphens.sweep.spec.load_spec`)."""
    from graphens.sweep.spec import load_spec

    return {figure: len(load_spec(build_spec(figure, dataset, budget)).trials)
            for figure in FIGURES}


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def reuse_finished(out: Path, spec: Any, siblings: Sequence[Path]) -> int:
    """Copy into ``out`` the finished trials of ``spec`` found in sibling sweep directories.

    A trial's id hashes its whole configuration and data subset, so a finished trial with the
    same id elsewhere is this trial's result. Returns how many were copied.
    """
    from graphens.sweep.table import trial_dir

    copied = 0
    for trial in spec.trials:
        target = trial_dir(out, trial.id)
        if (target / "results.json").exists():
            continue
        for sibling in siblings:
            source = trial_dir(sibling, trial.id)
            if sibling != out and (source / "results.json").exists():
                staging = target.with_name(target.name + ".copying")
                shutil.rmtree(staging, ignore_errors=True)
                shutil.copytree(source, staging)
                shutil.rmtree(target, ignore_errors=True)
                os.replace(staging, target)  # whole, or not there
                copied += 1
                break
    return copied


def _own_sweep(out: Path, spec: Any) -> bool:
    """Whether ``out`` holds this experiment's sweep (maybe of other seeds), or only trials of it
    that :func:`reuse_finished` copied there: then :func:`graphens.sweep` may reuse it."""
    from graphens.sweep.table import TRIALS_DIR, read_json

    record = read_json(out / "spec.json")
    if record is not None:
        return record.get("name") == spec.name
    if not out.is_dir():
        return False
    trials = out / TRIALS_DIR
    return all(entry == trials for entry in out.iterdir()) and all(
        entry.name.removesuffix(".copying") in spec.ids for entry in trials.iterdir())


def run_figure(figure: str, spec: dict[str, Any], out: Path, *, workers: int = 1,
               pack: str = "auto", siblings: Sequence[Path] = ()) -> None:
    """Run one experiment seed by seed into ``out``; finished trials are not run again."""
    import graphens
    from graphens.sweep.spec import load_spec
    from graphens.sweep.table import trial_dir

    seeds = spec["axes"]["seed"]
    loaded = load_spec(spec)
    copied = reuse_finished(out, loaded, siblings)
    done = sum((trial_dir(out, t.id) / "results.json").exists() for t in loaded.trials)
    print(f"{figure}: {done} of {len(loaded.trials)} trials finished"
          + (f" ({copied} copied from the other experiments)" if copied else "")
          + (f"; running the rest seed by seed into {out}" if done < len(loaded.trials) else ""),
          flush=True)
    for count in range(1, len(seeds) + 1):
        partial = {**spec, "axes": {**spec["axes"], "seed": seeds[:count]}}
        # Each pass records its own trial list; a pass with fewer seeds than the directory's
        # (a rerun) is the same experiment, so it may reuse the directory.
        graphens.sweep(partial, out, workers=workers, progress=False, pack=pack,
                       force=_own_sweep(out, loaded))


# --------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------


def _values(frame: Any, column: str) -> list[float]:
    if column not in frame.columns:
        return []
    return [float(v) for v in frame[column].tolist()
            if v is not None and not (isinstance(v, float) and math.isnan(v))]


def _key(value: Any) -> Any:
    """A point key in plain Python (NaN -> None, numpy scalars -> Python numbers)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        value = value.item()
    return value


def point_table(ok: Any, figure: str) -> list[dict[str, Any]]:
    """Mean ± 95 % CI over seeds of :data:`MEASURES` per arm and point of an experiment.

    Parameters
    ----------
    ok : pandas.DataFrame
        The finished trials: columns ``label``, ``seed``, the experiment's
        :data:`POINT_KEYS` and the measures (missing measures are skipped).
    figure : str
        The experiment.

    Returns
    -------
    list of dict
        One row per arm and point, in the table's order: ``label``, the point keys,
        ``seeds`` (how many), ``seed_list``, and ``<measure>`` / ``<measure>.ci`` (the
        half-width of the t interval; NaN with one seed), ``num_edges``, ``agreement_chance``.
    """
    from graphens.sweep.report import mean_ci

    keys = ["label", *POINT_KEYS[figure]]
    rows = []
    for values, group in ok.groupby(keys, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        row: dict[str, Any] = {k: _key(v) for k, v in zip(keys, values, strict=True)}
        row["seeds"] = len(group)
        row["seed_list"] = sorted(int(s) for s in group["seed"])
        for column in MEASURES:
            found = _values(group, column)
            if found:
                mean, half, _ = mean_ci(found)
                row[column], row[f"{column}.ci"] = mean, half
        for column in ("num_edges", "agreement_chance"):
            found = _values(group, column)
            if found:
                row[column] = sum(found) / len(found)
        rows.append(row)
    return rows


def _select(ok: Any, where: dict[str, Any]) -> Any:
    mask = None
    for column, value in where.items():
        if value is None:
            hit = ok[column].isna()
        elif isinstance(value, float):
            hit = (ok[column].astype(float) - value).abs() < 1e-9
        else:
            hit = ok[column] == value
        mask = hit if mask is None else mask & hit
    return ok[mask] if mask is not None else ok


def paired(ok: Any, a: dict[str, Any], b: dict[str, Any], measure: str,
           name: str) -> dict[str, Any] | None:
    """``a − b`` paired by seed (:func:`graphens.stats.paired_difference`); None if no pair.

    ``a`` and ``b`` are column -> value filters (``{"label": "CLoSeR", "nodes": 10}``).
    """
    from graphens.stats import paired_difference

    if measure not in ok.columns:
        return None
    left = _select(ok, a).drop_duplicates("seed").set_index("seed")[measure]
    right = _select(ok, b).drop_duplicates("seed").set_index("seed")[measure]
    seeds = sorted(set(left.dropna().index) & set(right.dropna().index))
    if not seeds:
        return None
    diff = paired_difference(left.loc[seeds].astype(float).tolist(),
                             right.loc[seeds].astype(float).tolist())
    return {"comparison": name, "measure": measure, "n": diff.n, "seeds": seeds,
            "diff": diff.mean, "ci_low": diff.ci_low, "ci_high": diff.ci_high, "p": diff.p}


def _present(ok: Any, column: str) -> list[Any]:
    if column not in ok.columns:
        return []
    return sorted({_key(v) for v in ok[column].tolist()} - {None})


def _k_name(k: Any) -> str:
    return f"{GNK}, k {int(k)}"


def comparisons(ok: Any, figure: str) -> list[dict[str, Any]]:
    """The paired differences of one experiment, with Holm's p over its whole family.

    * arms: CLoSeR − untrained, − supervised, − raw input (single, ensemble; agreement
      against supervised);
    * d: CLoSeR − supervised and CLoSeR − untrained at every d;
    * nodes: each N − the N before it (does accuracy rise with N?);
    * topologies: each sparse graph − all-to-all, each ring − G_N^20, all-to-all − untrained;
    * vit: CLoSeR − untrained and CLoSeR − supervised per field kind and d.
    """
    from graphens.stats import holm

    accuracies = MEASURES[:2]
    plan: list[tuple[str, dict[str, Any], dict[str, Any], tuple[str, ...]]] = []
    if figure == "arms":
        plan += [(f"{CLOSER} − {other}", {"label": CLOSER}, {"label": other},
                  accuracies + (("agreement.mean",) if other == SUPERVISED else ()))
                 for other in (UNTRAINED, SUPERVISED, RAW)]
    elif figure == "d":
        plan += [(f"{CLOSER} − {other}, d {d:g}", {"label": CLOSER, "rf_fraction": d},
                  {"label": other, "rf_fraction": d}, accuracies)
                 for d in _present(ok, "rf_fraction") for other in (SUPERVISED, UNTRAINED)]
    elif figure == "nodes":
        grid = [int(n) for n in _present(ok, "nodes")]
        plan += [(f"N {n} − N {m}", {"label": CLOSER, "nodes": n},
                  {"label": CLOSER, "nodes": m}, accuracies)
                 for m, n in zip(grid, grid[1:], strict=False)]
    elif figure == "topologies":
        dense = {"label": DENSE}
        ks = _present(_select(ok, {"label": GNK}), "topology_params.k")
        plan += [(f"{_k_name(k)} − {DENSE}", {"label": GNK, "topology_params.k": k}, dense,
                  accuracies) for k in ks]
        plan += [(f"{ring} − {DENSE}", {"label": ring}, dense, accuracies) for ring in RINGS]
        if 20 in ks:
            plan += [(f"{ring} − {_k_name(20)}", {"label": ring},
                      {"label": GNK, "topology_params.k": 20}, accuracies) for ring in RINGS]
        plan.append((f"{DENSE} − {UNTRAINED}", dense, {"label": UNTRAINED}, accuracies))
    elif figure == "vit":
        plan += [(f"{CLOSER} − {other}, {rf}, d {d:g}",
                  {"label": CLOSER, "rf": rf, "rf_fraction": d},
                  {"label": other, "rf": rf, "rf_fraction": d}, accuracies)
                 for rf in _present(ok, "rf") for d in _present(ok, "rf_fraction")
                 for other in (UNTRAINED, SUPERVISED)]
    tests = [test for name, a, b, measures in plan for measure in measures
             if (test := paired(ok, a, b, measure, name)) is not None]
    for test, adjusted in zip(tests, holm([t["p"] for t in tests]), strict=True):
        test["p_holm"] = adjusted
    return tests


# --------------------------------------------------------------------------------------------
# Shape checks
# --------------------------------------------------------------------------------------------


def _find(points: list[dict[str, Any]], **where: Any) -> dict[str, Any] | None:
    for row in points:
        if all(row.get(k) == v or (isinstance(v, float) and isinstance(row.get(k), float)
                                   and abs(row[k] - v) < 1e-9) for k, v in where.items()):
            return row
    return None


def _test(tests: list[dict[str, Any]], name: str, measure: str) -> dict[str, Any] | None:
    return next((t for t in tests if t["comparison"] == name and t["measure"] == measure),
                None)


def _p_text(test: dict[str, Any] | None) -> str:
    if test is None or test["n"] < 2:
        return "n < 2, no test"
    p, holm_p = test["p"], test.get("p_holm", math.nan)
    if math.isnan(p):
        return f"n {test['n']}, no spread: no t-test"
    return f"paired p {p:.2g}, Holm {holm_p:.2g}, n {test['n']}"


def _rises(values: Sequence[float]) -> bool:
    return len(values) >= 2 and all(b > a for a, b in zip(values, values[1:], strict=False))


def _series(points: list[dict[str, Any]], label: str, key: str,
            measure: str = "single_accuracy") -> list[tuple[Any, float]]:
    return sorted((row[key], row[measure]) for row in points
                  if row["label"] == label and row.get(key) is not None and measure in row)


def _listing(series: Sequence[tuple[Any, float]], name: str) -> str:
    return ", ".join(f"{name} {x:g}: {y:.3f}" for x, y in series)


def shape_checks(figure: str, points: list[dict[str, Any]],
                 tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Whether our numbers show each of method.md's shapes for one experiment.

    Returns
    -------
    list of dict
        ``claim`` (what is checked, with its criterion), ``holds`` (True, False, or None
        when the experiment lacks the points to tell) and ``detail`` (the numbers).
    """
    checks: list[dict[str, Any]] = []

    def check(claim: str, holds: bool | None, detail: str) -> None:
        checks.append({"claim": claim, "holds": holds, "detail": detail})

    if figure == "arms":
        closer, supervised = _find(points, label=CLOSER), _find(points, label=SUPERVISED)
        gains = [_test(tests, f"{CLOSER} − {UNTRAINED}", m) for m in MEASURES[:2]]
        check("CLoSeR beats the untrained ensemble (single and ensemble)",
              None if None in gains else all(t["diff"] > 0 for t in gains),  # type: ignore
              "; ".join(f"{SHORT[t['measure']]} {t['diff']:+.3f} ({_p_text(t)})"
                        for t in gains if t is not None) or "not run")
        match = _test(tests, f"{CLOSER} − {SUPERVISED}", "single_accuracy")
        check(f"CLoSeR matches supervised, single node (within {TOLERANCE:g}; paper 0.432 vs "
              "0.433)", None if match is None else match["diff"] >= -TOLERANCE,
              "not run" if match is None else f"{match['diff']:+.3f} ({_p_text(match)})")
        have = closer is not None and supervised is not None and all(
            "agreement.mean" in row and "agreement_chance" in row
            for row in (closer, supervised))
        if have:
            chance = closer["agreement_chance"]  # type: ignore[index]
            ours, theirs = closer["agreement.mean"], supervised["agreement.mean"]  # type: ignore
            check("agreement far above chance (CLoSeR ≥ 10× chance 1/B) while supervised "
                  "stays near chance (< 2× chance)",
                  ours >= 10 * chance and theirs < 2 * chance,
                  f"CLoSeR {ours:.3f}, supervised {theirs:.3f}, chance {chance:.4f}")
        else:
            check("agreement far above chance while supervised stays near chance", None,
                  "agreement not measured")
    elif figure == "d":
        ours = _series(points, CLOSER, "rf_fraction")
        theirs = _series(points, SUPERVISED, "rf_fraction")
        if len(ours) >= 2:
            peak = max(ours, key=lambda item: item[1])
            check("CLoSeR single peaks at small d (≤ 0.15) and falls for larger d",
                  peak[0] <= 0.15 and peak[0] != ours[-1][0],
                  f"peak at d={peak[0]:g} ({_listing(ours, 'd')})")
        else:
            check("CLoSeR single peaks at small d and falls for larger d", None,
                  "fewer than 2 values of d")
        if ours:
            smallest = ours[0][0]
            match = _test(tests, f"{CLOSER} − {SUPERVISED}, d {smallest:g}", "single_accuracy")
            check(f"CLoSeR matches supervised at the smallest d (within {TOLERANCE:g})",
                  None if match is None else match["diff"] >= -TOLERANCE,
                  "not run" if match is None else
                  f"d {smallest:g}: {match['diff']:+.3f} ({_p_text(match)})")
        gains = [(d, t["diff"]) for d, _ in ours
                 if (t := _test(tests, f"{CLOSER} − {UNTRAINED}, d {d:g}", "single_accuracy"))
                 is not None]
        if len(gains) >= 2:
            best = max(gains, key=lambda item: item[1])
            check("CLoSeR's single-node gain over untrained peaks at small d (≤ 0.15) and "
                  "falls for larger d", best[0] <= 0.15 and best[0] != gains[-1][0],
                  f"peak at d={best[0]:g} (" + ", ".join(f"d {d:g}: {g:+.3f}"
                                                          for d, g in gains) + ")")
        else:
            check("CLoSeR's gain over untrained peaks at small d", None,
                  "fewer than 2 values of d with the untrained arm")
        check("supervised single keeps rising with d",
              _rises([y for _, y in theirs]) if len(theirs) >= 2 else None,
              _listing(theirs, "d") or "not run")
    elif figure == "nodes":
        ours = _series(points, CLOSER, "nodes")
        steps = [t for t in tests if t["measure"] == "single_accuracy"]
        check("more nodes help: single accuracy rises with N",
              _rises([y for _, y in ours]) if len(ours) >= 2 else None,
              (_listing(ours, "N") or "not run") + "".join(
                  f"; {t['comparison']}: {t['diff']:+.3f} ({_p_text(t)})" for t in steps))
    elif figure == "topologies":
        ks = sorted(row["topology_params.k"] for row in points if row["label"] == GNK
                    and row.get("topology_params.k") is not None)
        if ks and _find(points, label=DENSE) is not None:
            k = min(ks, key=lambda value: (abs(value - 50), -value))
            tests_k = [_test(tests, f"{_k_name(k)} − {DENSE}", m) for m in MEASURES[:2]]
            within = [t["diff"] >= -TOLERANCE for t in tests_k if t is not None]
            close = [int(v) for v in ks
                     if (t := _test(tests, f"{_k_name(v)} − {DENSE}", "single_accuracy"))
                     is not None and t["diff"] >= -TOLERANCE]
            check(f"G_N^k nearly as good as all-to-all from k ≈ 50 (within {TOLERANCE:g}, "
                  f"single and ensemble, at k {int(k)})",
                  all(within) if within else None,
                  "; ".join(f"{SHORT[t['measure']]} {t['diff']:+.3f} ({_p_text(t)})"
                            for t in tests_k if t is not None)
                  + f"; smallest k within {TOLERANCE:g} on single: "
                  + (str(min(close)) if close else "none"))
        else:
            check("G_N^k nearly as good as all-to-all from k ≈ 50", None, "not run")
        ring_tests = [_test(tests, f"{ring} − {_k_name(20)}", "single_accuracy")
                      for ring in RINGS]
        found = [t for t in ring_tests if t is not None]
        check("rings with 20 edges beat random G_N^20 (single)",
              all(t["diff"] > 0 for t in found) if found else None,
              "; ".join(f"{t['comparison']}: {t['diff']:+.3f} ({_p_text(t)})" for t in found)
              or "G_N^20 or the rings not run")
    elif figure == "vit":
        for rf in sorted({row["rf"] for row in points if row.get("rf")}):
            ds = _series(points, CLOSER, "rf_fraction")
            d = min((x for x, _ in ds), key=lambda value: abs(value - 0.1), default=None)
            test = None if d is None else _test(
                tests, f"{CLOSER} − {UNTRAINED}, {rf}, d {d:g}", "single_accuracy")
            check(f"ViT-lite CLoSeR beats untrained, single ({rf}, d ≈ 0.1)",
                  None if test is None else test["diff"] > 0,
                  "not run" if test is None else
                  f"d {d:g}: {test['diff']:+.3f} ({_p_text(test)})")
    return checks


# --------------------------------------------------------------------------------------------
# Published numbers (CIFAR-10)
# --------------------------------------------------------------------------------------------


def published_value(figure: str, row: dict[str, Any], measure: str) -> float | None:
    """The paper's CIFAR-10 number for this arm and point, if it published one."""
    name = SHORT[measure]
    if figure == "arms":
        return PUBLISHED["arms"].get(row["label"], {}).get(name)
    if figure == "nodes" and row["label"] == CLOSER and row.get("nodes") is not None:
        return PUBLISHED["nodes"].get(name, {}).get(int(row["nodes"]))
    if figure == "topologies":
        label = row["label"]
        if label == GNK and row.get("topology_params.k") is not None:
            label = _k_name(row["topology_params.k"])
        return PUBLISHED["topologies"].get(label, {}).get(name)
    if figure == "vit" and row.get("rf_fraction") is not None:
        key = (row["label"], row.get("rf"), round(float(row["rf_fraction"]), 6))
        return PUBLISHED["vit"].get(key, {}).get(name)
    return None


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def _pm(row: dict[str, Any], column: str, digits: int = 3) -> str:
    mean = row.get(column)
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    half = row.get(f"{column}.ci", math.nan)
    return f"{mean:.{digits}f}" if math.isnan(half) else f"{mean:.{digits}f} ± {half:.{digits}f}"


def point_name(figure: str, row: dict[str, Any]) -> str:
    """How tables and figures name an arm at a point (``"CLoSeR, d 0.1"``, ``"G_N^k, k 20"``)."""
    if figure == "d":
        return f"{row['label']}, d {row['rf_fraction']:g}"
    if figure == "nodes":
        return f"{row['label']}, N {int(row['nodes'])}"
    if figure == "topologies" and row.get("topology_params.k") is not None:
        return _k_name(row["topology_params.k"])
    if figure == "vit":
        return f"{row['label']}, {row['rf']}, d {row['rf_fraction']:g}"
    return str(row["label"])


def figure_markdown(figure: str, points: list[dict[str, Any]], tests: list[dict[str, Any]],
                    checks: list[dict[str, Any]], dataset: str, finished: int,
                    total: int, image: str | None = None, failed: int = 0) -> str:
    """The Markdown report of one experiment: points, paired differences, shape checks."""
    agreement = any("agreement.mean" in row for row in points)
    cifar = dataset == "cifar10"
    header = ["arm / point", "seeds", "single", "ensemble"]
    header += ["agreement"] if agreement else []
    header += ["edges"] if figure == "topologies" else []
    header += ["paper single", "paper ensemble"] if cifar else []
    lines = [f"## {figure}: {TITLES[figure]} (paper {PAPER_FIGURE[figure]})", "",
             f"{finished} of {total} trials finished"
             + (f" ({failed} failed: see the sweep's trials/<id>/error.json; rerun to retry)"
                if failed else "")
             + ". Mean ± 95 % CI over the seeds present (no CI with one seed).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in points:
        cells = [point_name(figure, row),
                 f"{row['seeds']} ({', '.join(map(str, row['seed_list']))})",
                 _pm(row, "single_accuracy"), _pm(row, "ensemble_accuracy")]
        cells += [_pm(row, "agreement.mean")] if agreement else []
        cells += [f"{row.get('num_edges', math.nan):.0f}"] if figure == "topologies" else []
        if cifar:
            cells += [f"{v:.3f}" if (v := published_value(figure, row, m)) is not None else "–"
                      for m in MEASURES[:2]]
        lines.append("| " + " | ".join(cells) + " |")
    if agreement:
        chance = next((row["agreement_chance"] for row in points if "agreement_chance" in row),
                      None)
        if chance is not None:
            lines += ["", f"Agreement chance level: 1/B = {chance:.4f}."]
    lines += ["", "Paired by seed (a − b; mean difference, bootstrap 95 % CI, paired t-test p, "
              "Holm over this table):", ""]
    if tests:
        lines += ["| comparison | measure | n | diff [95 % CI] | p | p (Holm) |",
                  "|---|---|---|---|---|---|"]
        for t in tests:
            ci = ("" if math.isnan(t["ci_low"]) else
                  f" [{t['ci_low']:+.3f}, {t['ci_high']:+.3f}]")
            lines.append(f"| {t['comparison']} | {SHORT[t['measure']]} | {t['n']} | "
                         f"{t['diff']:+.3f}{ci} | {_p(t['p'])} | {_p(t['p_holm'])} |")
    else:
        lines.append("No pair finished yet.")
    lines += ["", "Shapes (method.md): " + SHAPES[figure] + ".", ""]
    lines += [f"* {c['claim']}: **{_yes(c['holds'])}** ({c['detail']})" for c in checks]
    if image:
        lines += ["", f"![{figure}]({image})"]
    return "\n".join(lines) + "\n"


def _p(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.3g}"


def _yes(holds: bool | None) -> str:
    return {True: "yes", False: "no", None: "not known"}[holds]


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _save(fig: Any, path: Path) -> Path:
    from graphens.io import atomic_write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return atomic_write_bytes(path, buffer.getvalue())


def _ci(row: dict[str, Any], column: str) -> float:
    half = row.get(f"{column}.ci", math.nan)
    return 0.0 if half is None or math.isnan(half) else half


def _lines(ax: Any, points: list[dict[str, Any]], column: str, key: str,
           series: Sequence[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
    """One line with CI error bars per series (name, row filter, plot style) against ``key``."""
    for name, where, style in series:
        rows = sorted((r for r in points if all(r.get(k) == v for k, v in where.items())
                       and column in r and r.get(key) is not None), key=lambda r: r[key])
        if rows:
            ax.errorbar([r[key] for r in rows], [r[column] for r in rows],
                        yerr=[_ci(r, column) for r in rows], capsize=3, marker="o",
                        label=name, **style)


def gain_series(tests: Sequence[dict[str, Any]], prefix: str,
                measure: str) -> list[tuple[float, dict[str, Any]]]:
    """The paired tests named ``"<prefix>, d <d>"`` for one measure, as (d, test) sorted by d."""
    series = []
    for test in tests:
        head, _, d = test["comparison"].rpartition(", d ")
        if head == prefix and test["measure"] == measure:
            series.append((float(d), test))
    return sorted(series, key=lambda pair: pair[0])


def _gain_panel(ax: Any, tests: Sequence[dict[str, Any]], figure: str) -> None:
    """CLoSeR − untrained against d, paired by seed (mean and bootstrap 95 % CI).

    Absolute accuracy rises with d for any encoder (more pixels per node), so what training
    adds shows in the gain over untrained nodes with the same fields (the paper's fig. 3 peak).
    """
    prefixes = ([(f"{CLOSER} − {UNTRAINED}", "")] if figure == "d" else
                [(f"{CLOSER} − {UNTRAINED}, {rf}", f", {rf}") for rf in ("contiguous",
                                                                        "patches")])
    for (prefix, suffix), color in zip(prefixes, ("C0", "C3"), strict=False):
        for measure, marker in zip(MEASURES[:2], ("o", "s"), strict=True):
            series = gain_series(tests, prefix, measure)
            if not series:
                continue
            ds = [d for d, _ in series]
            diffs = [t["diff"] for _, t in series]
            errors = [[t["diff"] - t["ci_low"] for _, t in series],
                      [t["ci_high"] - t["diff"] for _, t in series]]
            ax.errorbar(ds, diffs, yerr=errors, capsize=3, marker=marker, color=color,
                        linestyle="-" if measure == MEASURES[0] else "--",
                        label=f"{SHORT[measure]}{suffix}")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("receptive-field fraction d")
    ax.set_ylabel(f"{CLOSER} − {UNTRAINED} accuracy")
    ax.set_title("gain over untrained (paired by seed, 95 % CI)", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)


def draw_figure(figure: str, points: list[dict[str, Any]], dataset: str, path: Path,
                tests: Sequence[dict[str, Any]] = ()) -> Path:
    """Draw one experiment like the paper's figure (single node left, ensemble right).

    For ``d`` and ``vit``, a third panel draws CLoSeR's paired gain over untrained nodes
    against d, from ``tests`` (:func:`comparisons`).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    cifar = dataset == "cifar10"
    gain = figure in ("d", "vit") and any(
        t["comparison"].startswith(f"{CLOSER} − {UNTRAINED}") for t in tests)
    fig = Figure(figsize=(14 if gain else 10, 3.8), layout="constrained")
    axes = fig.subplots(1, 3 if gain else 2)
    if gain:
        _gain_panel(axes[2], tests, figure)
    for ax, column in zip(axes, MEASURES[:2], strict=False):
        if figure in ("arms", "topologies"):
            rows = points if figure == "arms" else sorted(
                points, key=lambda r: (r["label"] == UNTRAINED, r.get("num_edges", 0)))
            names = [point_name(figure, r) + ("" if figure == "arms" else
                                               f"\n{r.get('num_edges', math.nan):.0f} edges")
                     for r in rows]
            width = 0.4 if cifar else 0.8
            x = list(range(len(rows)))
            ax.bar([i - (width / 2 if cifar else 0) for i in x],
                   [r.get(column, math.nan) for r in rows], width=width,
                   yerr=[_ci(r, column) for r in rows], capsize=3,
                   color=["grey" if r["label"] in (UNTRAINED, RAW) else "C0" for r in rows])
            handles = [Patch(color="C0", label="ours, trained"),
                       Patch(color="grey", label="ours, baseline")]
            paper = [published_value(figure, r, column) for r in rows] if cifar else []
            if any(v is not None for v in paper):
                ax.bar([i + width / 2 for i in x], [math.nan if v is None else v for v in paper],
                       width=width, color="C1", alpha=0.6)
                handles.append(Patch(color="C1", alpha=0.6, label="paper (CIFAR-10)"))
            ax.legend(handles=handles, fontsize=7)
            ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
            heights = [r[column] for r in rows if column in r] + [v for v in paper if v]
            if heights:
                ax.set_ylim(max(0.0, min(heights) - 0.1), min(1.0, max(heights) + 0.05))
        elif figure == "d":
            _lines(ax, points, column, "rf_fraction",
                   [(CLOSER, {"label": CLOSER}, {"color": "C0"}),
                    (SUPERVISED, {"label": SUPERVISED}, {"color": "C2"}),
                    (UNTRAINED, {"label": UNTRAINED}, {"color": "grey", "linestyle": "--"})])
            ax.set_xlabel("receptive-field fraction d")
        elif figure == "nodes":
            _lines(ax, points, column, "nodes", [(CLOSER, {"label": CLOSER}, {"color": "C0"})])
            if cifar and column == "single_accuracy":
                published = PUBLISHED["nodes"]["single"]
                ax.plot(list(published), list(published.values()), "s--", color="C1",
                        label="paper (CIFAR-10)")
            ax.set_xlabel("nodes N")
        elif figure == "vit":
            _lines(ax, points, column, "rf_fraction",
                   [(f"{label}, {rf}", {"label": label, "rf": rf},
                     {"color": "C0" if rf == "contiguous" else "C3",
                      "linestyle": {CLOSER: "-", UNTRAINED: "--", SUPERVISED: ":"}[label]})
                    for rf in ("contiguous", "patches")
                    for label in (CLOSER, UNTRAINED, SUPERVISED)])
            if cifar and column == "single_accuracy":
                for (label, _, d), value in PUBLISHED["vit"].items():
                    ax.plot([d], [value["single"]], "s" if label == CLOSER else "x",
                            color="C1", label=f"paper {label}, contiguous")
            ax.set_xlabel("receptive-field fraction d")
        ax.set_ylabel(f"{SHORT[column]} accuracy")
        ax.set_title(f"{SHORT[column]} (95 % CI over seeds)", fontsize=9)
        if figure not in ("arms", "topologies") and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(f"{TITLES[figure]} — {DATASET_NAMES.get(dataset, dataset)} "
                 f"(paper {PAPER_FIGURE[figure]})", fontsize=10)
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def protocol_text(dataset: str, budget: str) -> str:
    """One paragraph: what the budget ran, and why it differs from the paper."""
    settings = BUDGET_SETTINGS[budget]
    fixed = base_fields(dataset, budget)
    seeds = settings["seeds"]
    text = (f"{DATASET_NAMES.get(dataset, dataset)}, budget {budget}: "
            + (f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}–{seeds[-1]}")
            + f", {fixed['epochs']} epoch(s), "
            f"τ {fixed['tau']:g}, precision {fixed.get('precision', 'fp32')}, "
            + (f"a seeded random {fixed['max_train']} training images" if fixed.get("max_train")
               else "all the training images")
            + "; N 10, Gaussian fields σ 2 px, d 0.1 unless swept; "
            + ("MLP hidden 32 → D 16." if budget == "smoke" else "the paper's MLP 1024-512-256 "
               "→ 256."))
    if budget == "quick":
        text += " " + TAU_NOTE
    elif budget == "smoke":
        text += " A pipeline check on digits: its numbers say nothing about the paper."
    elif budget == "full":
        text += " The paper's protocol (2000 epochs is the paper's count; meant for a GPU)."
    return text


def report_figure(figure: str, out: Path, dataset: str, tables: Path,
                  figures: Path) -> dict[str, Any] | None:
    """Tables and figure of one experiment from its sweep directory; None if nothing finished.

    Returns
    -------
    dict or None
        ``points``, ``tests``, ``checks``, ``finished``, ``total``, ``markdown`` and the paths
        written (``table``, ``figure``).
    """
    import pandas as pd

    from graphens.errors import GraphensError
    from graphens.io import atomic_write_text
    from graphens.sweep.table import read_table

    try:
        table = read_table(out)
    except GraphensError:  # no sweep there yet
        return None
    ok = table[table["status"] == "ok"]
    if ok.empty:
        return None
    failed = int((table["status"] == "failed").sum())
    points = point_table(ok, figure)
    tests = comparisons(ok, figure)
    checks = shape_checks(figure, points, tests)
    tables.mkdir(parents=True, exist_ok=True)
    figures.mkdir(parents=True, exist_ok=True)
    image = draw_figure(figure, points, dataset, figures / f"{figure}.png", tests)
    link = Path(os.path.relpath(image, tables)).as_posix()
    text = figure_markdown(figure, points, tests, checks, dataset, len(ok), len(table), link,
                           failed)
    atomic_write_text(tables / f"{figure}.md", text)
    atomic_write_text(tables / f"{figure}.csv", pd.DataFrame(
        [{**row, "seed_list": json.dumps(row["seed_list"])} for row in points]
    ).to_csv(index=False))
    atomic_write_text(tables / f"{figure}_tests.csv", pd.DataFrame(
        [{**t, "seeds": json.dumps([int(s) for s in t["seeds"]])} for t in tests]
    ).to_csv(index=False))
    return {"points": points, "tests": tests, "checks": checks, "finished": len(ok),
            "failed": failed, "total": len(table), "markdown": text,
            "table": tables / f"{figure}.md", "figure": image}


def summary_markdown(dataset: str, budget: str, reports: dict[str, dict[str, Any] | None],
                     tables: Path) -> str:
    """``summary.md``: every experiment, what reproduces and what does not."""
    lines = [f"# The paper's figures on {DATASET_NAMES.get(dataset, dataset)} ({budget})", "",
             protocol_text(dataset, budget), ""]
    if dataset != "cifar10":
        lines += ["The paper reports CIFAR-10 only; shapes to compare (method.md, \"Shapes to "
                  "reproduce\"), each checked on our numbers below:", ""]
        lines += [f"* {figure}: {SHAPES[figure]}." for figure in FIGURES]
    else:
        lines += ["The paper's CIFAR-10 numbers (method.md §8) are drawn beside ours in every "
                  "table and figure that has one.", ""]
    lines += ["", "Each shape is read on the means over seeds (the criterion is in its line); the "
              "paired p-values beside it say whether the difference stands out of the seed "
              "noise. \"not known\": the experiment lacks the points to tell.", "",
              "| experiment | paper | trials finished | reproduces | does not |",
              "|---|---|---|---|---|"]
    for figure in FIGURES:
        report = reports.get(figure)
        if report is None:
            lines.append(f"| {figure} | {PAPER_FIGURE[figure]} | 0 (not run yet) | – | – |")
            continue
        yes = [c["claim"] for c in report["checks"] if c["holds"] is True]
        no = [c["claim"] for c in report["checks"] if c["holds"] is False]
        failed = f", {report['failed']} failed" if report["failed"] else ""
        lines.append(f"| [{figure}]({figure}.md) | {PAPER_FIGURE[figure]} | "
                     f"{report['finished']} of {report['total']}{failed} | "
                     f"{'; '.join(yes) or '–'} | {'; '.join(no) or '–'} |")
    for figure in FIGURES:
        report = reports.get(figure)
        lines += ["", f"## {figure} ({PAPER_FIGURE[figure]}): {TITLES[figure]}", ""]
        if report is None:
            lines.append("Not run yet (no finished trial).")
            continue
        seeds = sorted({s for row in report["points"] for s in row["seed_list"]})
        image = Path(os.path.relpath(report["figure"], tables)).as_posix()
        lines.append(f"{report['finished']} of {report['total']} trials finished (seeds "
                     f"{', '.join(map(str, seeds))}). Table: [{figure}.md]({figure}.md); "
                     f"figure: ![{figure}]({image}).")
        lines.append("")
        lines += [f"* {c['claim']}: **{_yes(c['holds'])}** ({c['detail']})"
                  for c in report["checks"]]
    return "\n".join(lines) + "\n"


def report(dataset: str, budget: str, root: Path, tables: Path, figures: Path) -> str:
    """Rebuild every experiment's tables and figure from what has finished, and the summary."""
    from graphens.io import atomic_write_text

    reports = {figure: report_figure(figure, root / figure, dataset, tables, figures)
               for figure in FIGURES}
    text = summary_markdown(dataset, budget, reports, tables)
    tables.mkdir(parents=True, exist_ok=True)
    atomic_write_text(tables / "summary.md", text)
    return text


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line; a bad combination is a one-line argparse error."""
    parser = argparse.ArgumentParser(prog="paper.py", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, choices=sorted(DATASET_NAMES))
    parser.add_argument("--budget", required=True, choices=BUDGETS)
    parser.add_argument("--out", default=None, help="root of the sweep directories, one per "
                        "experiment (default benchmarks/out/paper/<dataset>-<budget>)")
    parser.add_argument("--tables", default=None,
                        help="default benchmarks/tables/paper/<dataset>-<budget>")
    parser.add_argument("--figures-dir", default=None,
                        help="default benchmarks/figures/paper/<dataset>-<budget>")
    parser.add_argument("--figures", nargs="+", choices=FIGURES, default=list(FIGURES),
                        metavar="NAME", help=f"experiments to run ({', '.join(FIGURES)}; "
                        "default all); the report covers every experiment on disk")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pack", choices=("auto", "on", "off"), default=None,
                        help="graphens.sweep's pack (default: on for full, else auto)")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild tables and figures from what has finished")
    args = parser.parse_args(argv)
    if args.dataset not in BUDGET_DATASETS[args.budget]:
        parser.error(f"--budget {args.budget} runs on "
                     f"{' or '.join(BUDGET_DATASETS[args.budget])}, not {args.dataset}")
    if args.workers < 1:
        parser.error(f"--workers {args.workers}: give 1 or more")
    stem = f"{args.dataset}-{args.budget}"
    args.out = Path(args.out) if args.out else HERE / "out" / "paper" / stem
    args.tables = Path(args.tables) if args.tables else HERE / "tables" / "paper" / stem
    args.figures_dir = (Path(args.figures_dir) if args.figures_dir
                        else HERE / "figures" / "paper" / stem)
    args.pack = args.pack or ("on" if args.budget == "full" else "auto")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the chosen experiments (unless ``--report-only``), then write the report."""
    args = parse_args(argv)
    from graphens.errors import GraphensError

    try:
        if not args.report_only:
            from graphens.data import load_dataset
            from graphens.sweep.spec import load_spec

            specs = {figure: build_spec(figure, args.dataset, args.budget)
                     for figure in args.figures}
            for spec in specs.values():
                load_spec(spec)  # every bad value fails here, before any data
            load_dataset(args.dataset)  # a missing dataset fails here, before any training
            if args.budget == "quick":
                print(TAU_NOTE)
            siblings = [args.out / figure for figure in FIGURES]
            for figure, spec in specs.items():
                run_figure(figure, spec, args.out / figure, workers=args.workers,
                           pack=args.pack, siblings=siblings)
        text = report(args.dataset, args.budget, args.out, args.tables, args.figures_dir)
    except GraphensError as err:
        print(f"paper.py: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
