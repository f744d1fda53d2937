"""Benchmark: graphens.probe against the reference protocol fitted with scikit-learn.

Both sides decode the same features with the same protocol (method.md §6): one seeded 90/10
split of the training rows, z-scoring with the statistics of the 90 %, one multinomial
logistic regression per C of the grid, C chosen on validation accuracy (ties → smallest C,
no penalty counting as C = inf), test accuracy of the chosen model. The reference fits one
``sklearn.linear_model.LogisticRegression(solver="lbfgs")`` per (group, C): N nodes + the
ensemble, 8 Cs, 88 fits for N = 10. graphens.probe solves the N per-node groups in one batched
call and the ensemble in another.

The features stand in for encoder embeddings: node i is a fixed, seeded, random 2-layer ReLU
feature map (``relu(relu(x_M W1 + b1) W2)``, hidden 512, output D = 256) of a random subset M
of the pixels, so the nodes differ in what they see, as an ensemble's nodes do. No training is
involved; the benchmark measures the readout only.

Usage::

    python benchmarks/bench_probe.py                      # digits, 1297 train / 500 test
    python benchmarks/bench_probe.py --dataset fashion-mnist --n-train 10000 --n-test 2000
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from graphens.io import atomic_write_text
from graphens.probe import DEFAULT_CS, probe_accuracy, train_val_split

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


# --------------------------------------------------------------------------------------------
# Data and features
# --------------------------------------------------------------------------------------------


def _read_idx_gz(path: Path) -> np.ndarray:
    """Parse a gzipped idx file (big-endian header: magic, then one uint32 per dimension)."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_pixels(
    dataset: str, n_train: int, n_test: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixels in [0, 1], flattened, and labels of a seeded train/test subset."""
    rng = np.random.default_rng(seed)
    if dataset == "digits":
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        x = x / 16.0
        if n_train + n_test > len(x):
            sys.exit(f"digits has {len(x)} images; n_train + n_test = {n_train + n_test}")
        perm = rng.permutation(len(x))
        tr, te = perm[:n_train], perm[n_train : n_train + n_test]
        return x[tr], y[tr], x[te], y[te]
    if not FASHION_DIR.is_dir():
        sys.exit(f"{FASHION_DIR} not found (apt package dataset-fashion-mnist)")
    xtr = _read_idx_gz(FASHION_DIR / "train-images-idx3-ubyte.gz").reshape(60000, -1)
    ytr = _read_idx_gz(FASHION_DIR / "train-labels-idx1-ubyte.gz")
    xte = _read_idx_gz(FASHION_DIR / "t10k-images-idx3-ubyte.gz").reshape(10000, -1)
    yte = _read_idx_gz(FASHION_DIR / "t10k-labels-idx1-ubyte.gz")
    tr = rng.permutation(len(xtr))[:n_train]
    te = rng.permutation(len(xte))[:n_test]
    return xtr[tr] / 255.0, ytr[tr].astype(np.int64), xte[te] / 255.0, yte[te].astype(np.int64)


def random_feature_nodes(
    x: np.ndarray, num_nodes: int, dim: int, fraction: float, seed: int, hidden: int = 512
) -> np.ndarray:
    """``[N, n, dim]`` float32 features: node i = relu(relu(x[:, M_i] W1 + b1) W2), seeded."""
    gen = torch.Generator().manual_seed(seed)
    xt = torch.as_tensor(x, dtype=torch.float32)
    k = max(1, int(fraction * x.shape[1]))
    out = []
    for _ in range(num_nodes):
        cols = torch.randperm(x.shape[1], generator=gen)[:k]
        w1 = torch.randn(k, hidden, generator=gen) * math.sqrt(2.0 / k)
        b1 = torch.randn(hidden, generator=gen) * 0.5
        w2 = torch.randn(hidden, dim, generator=gen) * math.sqrt(2.0 / hidden)
        out.append(torch.relu(torch.relu(xt[:, cols] @ w1 + b1) @ w2))
    return torch.stack(out).numpy()


# --------------------------------------------------------------------------------------------
# The two implementations of the protocol
# --------------------------------------------------------------------------------------------


def _select(val_acc: list[float], cs: list[float | None]) -> int:
    """Best validation accuracy; ties → the smallest C (None = inf)."""
    order = sorted(range(len(cs)), key=lambda i: math.inf if cs[i] is None else cs[i])
    top = max(val_acc)
    return next(i for i in order if val_acc[i] == top)


def reference_probe(
    train: np.ndarray,
    y_train: np.ndarray,
    test: np.ndarray,
    y_test: np.ndarray,
    cs: list[float | None],
    seed: int,
    max_iter: int,
    tol: float,
) -> dict:
    """One scikit-learn fit per C on one group (float64); same split, scaling and selection."""
    fit_idx, val_idx = (i.numpy() for i in train_val_split(len(train), 0.1, seed))
    x_fit, x_val = train[fit_idx].astype(np.float64), train[val_idx].astype(np.float64)
    mean = x_fit.mean(axis=0)
    std = x_fit.std(axis=0)
    std = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
    x_fit, x_val = (x_fit - mean) / std, (x_val - mean) / std
    x_test = (test.astype(np.float64) - mean) / std
    y_fit, y_val = y_train[fit_idx], y_train[val_idx]
    models, val_correct, not_converged = [], [], 0
    for c in cs:
        model = LogisticRegression(C=np.inf if c is None else c, max_iter=max_iter, tol=tol)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_fit, y_fit)
        not_converged += int(np.max(model.n_iter_) >= max_iter)
        models.append(model)
        val_correct.append(int((model.predict(x_val) == y_val).sum()))
    best = _select(val_correct, cs)
    return {
        "test_accuracy": float((models[best].predict(x_test) == y_test).mean()),
        "best_C": cs[best],
        "not_converged": not_converged,
    }


def run_reference(
    nodes_tr, y_tr, nodes_te, y_te, cs, seed, max_iter, tol, cache: dict | None = None
) -> tuple[list[dict], float]:
    """Reference protocol on every node and on the ensemble; returns results and seconds.

    ``cache`` (group index → result with its ``seconds``) lets an interrupted run resume: a
    cached group is not refitted and its measured time is reused, so the total stays the sum
    of the per-group wall times. ``cache["_save"]`` is called after every new group.
    """
    groups = [(nodes_tr[i], nodes_te[i]) for i in range(len(nodes_tr))]
    groups.append((_concat(nodes_tr), _concat(nodes_te)))
    out, total = [], 0.0
    for i, (a, b) in enumerate(groups):
        if cache is not None and str(i) in cache:
            res = cache[str(i)]
            note = "cached"
        else:
            t0 = time.perf_counter()
            res = reference_probe(a, y_tr, b, y_te, cs, seed, max_iter, tol)
            res["seconds"] = time.perf_counter() - t0
            note = "fitted"
            if cache is not None:
                cache[str(i)] = res
                cache["_save"]()
        out.append(res)
        total += res["seconds"]
        print(
            f"  sklearn group {i + 1}/{len(groups)}: {res['seconds']:.1f} s ({note})",
            file=sys.stderr,
            flush=True,
        )
    return out, total


def run_graphens(nodes_tr, y_tr, nodes_te, y_te, cs, seed, max_iter, tol, dtype) -> list[dict]:
    ytr, yte = torch.as_tensor(y_tr), torch.as_tensor(y_te)
    kw = {"Cs": cs, "seed": seed, "max_iter": max_iter, "tol": tol, "dtype": dtype}
    per_node = probe_accuracy(torch.as_tensor(nodes_tr), ytr, torch.as_tensor(nodes_te), yte, **kw)
    ens_tr = torch.as_tensor(_concat(nodes_tr))[None]
    ens = probe_accuracy(ens_tr, ytr, torch.as_tensor(_concat(nodes_te))[None], yte, **kw)
    out = []
    for res in (per_node, ens):
        for g in range(len(res.best_C)):
            out.append(
                {
                    "test_accuracy": float(res.test_accuracy[g]),
                    "best_C": res.best_C[g],
                    "iterations": res.iterations,
                    "converged": res.converged,
                }
            )
    return out


def _concat(nodes: np.ndarray) -> np.ndarray:
    """``[N, n, D]`` → ``[n, N·D]`` (node-major feature order)."""
    return np.ascontiguousarray(nodes.transpose(1, 0, 2).reshape(nodes.shape[1], -1))


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def _fmt_c(c: float | None) -> str:
    return "none" if c is None else f"{c:g}"


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = [
        f"### Probe benchmark: {s['dataset']} ({s['n_train']} train / {s['n_test']} test, "
        f"N = {s['nodes']} nodes × D = {s['dim']}, ensemble {s['nodes'] * s['dim']} features, "
        f"{len(s['Cs'])} Cs)",
        "",
        "| | scikit-learn reference | graphens.probe |",
        "|---|---|---|",
        f"| fits | {report['reference']['fits']} × LogisticRegression(lbfgs) "
        f"| 2 batched calls ({s['dtype']}) |",
        f"| median wall time (repeats: {s['ref_repeats']} / {s['repeats']}) "
        f"| {report['reference']['median_s']:.2f} s | {report['graphens']['median_s']:.2f} s |",
        f"| speed-up | 1× | **{report['speedup']:.1f}×** |",
        f"| single-encoder accuracy (mean of nodes) | {report['reference']['single']:.4f} "
        f"| {report['graphens']['single']:.4f} |",
        f"| ensemble accuracy | {report['reference']['ensemble']:.4f} "
        f"| {report['graphens']['ensemble']:.4f} |",
        "",
        "| group | sklearn acc | graphens acc | diff (pt) | sklearn C | graphens C |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["groups"]:
        lines.append(
            f"| {row['group']} | {row['sklearn']:.4f} | {row['graphens']:.4f} "
            f"| {row['diff_pt']:+.2f} | {_fmt_c(row['sklearn_C'])} | {_fmt_c(row['graphens_C'])} |"
        )
    d = report["diff"]
    lines += [
        "",
        f"Accuracy difference graphens − sklearn, in points: nodes max |diff| "
        f"{d['node_max_abs_pt']:.2f}, mean |diff| {d['node_mean_abs_pt']:.2f}, mean diff "
        f"(= single-encoder diff) {d['node_mean_pt']:+.2f}; ensemble {d['ensemble_pt']:+.2f}.",
        f"Targets: |single diff| <= 0.5 pt and |ensemble diff| <= 0.5 pt: "
        f"{'met' if report['targets']['accuracy'] else 'MISSED'}; speed-up >= 10×: "
        f"{'met' if report['targets']['speed'] else 'MISSED'}.",
        f"graphens: {report['graphens']['iterations']} L-BFGS iterations max per call, all "
        f"converged: {report['graphens']['converged']}; sklearn fits at max_iter: "
        f"{report['reference']['not_converged']}.",
    ]
    return "\n".join(lines) + "\n"


def _reference_cache(path: Path, settings: dict, repeat: int) -> dict:
    """Per-group reference results of one repeat, kept on disk (``--resume``)."""
    stored = json.loads(path.read_text()) if path.exists() else {}
    if stored.get("settings") != settings:
        stored = {"settings": settings, "repeats": {}}
    cache = stored["repeats"].setdefault(str(repeat), {})

    def save() -> None:
        body = {k: v for k, v in cache.items() if k != "_save"}
        stored["repeats"][str(repeat)] = body
        atomic_write_text(path, json.dumps(stored, indent=1) + "\n")

    cache["_save"] = save
    return cache


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["digits", "fashion-mnist"], default="digits")
    parser.add_argument("--n-train", type=int, default=None, help="digits 1297, fashion 10000")
    parser.add_argument("--n-test", type=int, default=None, help="digits 500, fashion 2000")
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--rf-fraction", type=float, default=None, help="digits 0.25, fashion 0.1")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--ref-repeats",
        type=int,
        default=None,
        help="repeats of the sklearn side (default: --repeats)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--max-iter", type=int, default=1000, help="graphens L-BFGS cap")
    parser.add_argument("--sk-max-iter", type=int, default=10000, help="sklearn lbfgs cap")
    parser.add_argument("--tol", type=float, default=1e-4, help="gradient tolerance (both)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/probe"))
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep each sklearn group's result and time under --out and reuse them on a rerun "
        "(the reference takes long on fashion-mnist; an interrupted run resumes)",
    )
    args = parser.parse_args(argv)
    digits = args.dataset == "digits"
    n_train = args.n_train or (1297 if digits else 10000)
    n_test = args.n_test or (500 if digits else 2000)
    fraction = args.rf_fraction or (0.25 if digits else 0.1)
    cs = list(DEFAULT_CS)
    dtype = getattr(torch, args.dtype)

    x_tr, y_tr, x_te, y_te = load_pixels(args.dataset, n_train, n_test, args.seed)
    feats = random_feature_nodes(
        np.concatenate([x_tr, x_te]), args.nodes, args.dim, fraction, args.seed
    )
    nodes_tr, nodes_te = feats[:, :n_train], feats[:, n_train:]

    ref_repeats = args.repeats if args.ref_repeats is None else args.ref_repeats
    stem = f"{args.dataset}_{n_train}"
    settings = {
        "dataset": args.dataset,
        "n_train": n_train,
        "n_test": n_test,
        "nodes": args.nodes,
        "dim": args.dim,
        "rf_fraction": fraction,
        "seed": args.seed,
        "sk_max_iter": args.sk_max_iter,
        "tol": args.tol,
    }
    cache_path = args.out / f"{stem}_reference_cache.json"
    ref_times, our_times = [], []
    for rep in range(max(args.repeats, ref_repeats)):  # alternate, so both see the same load
        if rep < args.repeats:
            t0 = time.perf_counter()
            ours = run_graphens(
                nodes_tr, y_tr, nodes_te, y_te, cs, args.seed, args.max_iter, args.tol, dtype
            )
            our_times.append(time.perf_counter() - t0)
            print(f"repeat {rep + 1}: graphens {our_times[-1]:.2f} s", file=sys.stderr, flush=True)
        if rep < ref_repeats:
            ref, seconds = run_reference(
                nodes_tr,
                y_tr,
                nodes_te,
                y_te,
                cs,
                args.seed,
                args.sk_max_iter,
                args.tol,
                cache=_reference_cache(cache_path, settings, rep) if args.resume else None,
            )
            ref_times.append(seconds)
            print(f"repeat {rep + 1}: sklearn {ref_times[-1]:.2f} s", file=sys.stderr, flush=True)

    names = [f"node {i}" for i in range(args.nodes)] + ["ensemble"]
    groups = [
        {
            "group": name,
            "sklearn": r["test_accuracy"],
            "graphens": o["test_accuracy"],
            "diff_pt": 100.0 * (o["test_accuracy"] - r["test_accuracy"]),
            "sklearn_C": r["best_C"],
            "graphens_C": o["best_C"],
        }
        for name, r, o in zip(names, ref, ours, strict=True)
    ]
    node_diffs = [g["diff_pt"] for g in groups[:-1]]
    ref_med, our_med = statistics.median(ref_times), statistics.median(our_times)
    report = {
        "settings": {
            "dataset": args.dataset,
            "n_train": n_train,
            "n_test": n_test,
            "nodes": args.nodes,
            "dim": args.dim,
            "rf_fraction": fraction,
            "repeats": args.repeats,
            "ref_repeats": ref_repeats,
            "seed": args.seed,
            "dtype": args.dtype,
            "max_iter": args.max_iter,
            "sk_max_iter": args.sk_max_iter,
            "tol": args.tol,
            "Cs": cs,
            "torch_threads": torch.get_num_threads(),
            "load_average_after": os.getloadavg(),
        },
        "reference": {
            "fits": len(groups) * len(cs),
            "times_s": ref_times,
            "median_s": ref_med,
            "single": statistics.fmean(r["test_accuracy"] for r in ref[:-1]),
            "ensemble": ref[-1]["test_accuracy"],
            "not_converged": sum(r["not_converged"] for r in ref),
        },
        "graphens": {
            "times_s": our_times,
            "median_s": our_med,
            "single": statistics.fmean(o["test_accuracy"] for o in ours[:-1]),
            "ensemble": ours[-1]["test_accuracy"],
            "iterations": max(o["iterations"] for o in ours),
            "converged": all(o["converged"] for o in ours),
        },
        "speedup": ref_med / our_med,
        "groups": groups,
        "diff": {
            "node_max_abs_pt": max(abs(d) for d in node_diffs),
            "node_mean_abs_pt": statistics.fmean(abs(d) for d in node_diffs),
            "node_mean_pt": statistics.fmean(node_diffs),
            "ensemble_pt": groups[-1]["diff_pt"],
        },
    }
    report["targets"] = {
        "accuracy": abs(report["diff"]["node_mean_pt"]) <= 0.5
        and abs(report["diff"]["ensemble_pt"]) <= 0.5,
        "speed": report["speedup"] >= 10.0,
    }
    table = markdown(report)
    print(table)
    atomic_write_text(args.out / f"{stem}.md", table)
    atomic_write_text(args.out / f"{stem}.json", json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
