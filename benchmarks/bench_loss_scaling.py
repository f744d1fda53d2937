"""Benchmark: cost of ``closer_loss`` (forward + backward) against the number of edges E.

On 64 nodes with B 128, D 256 (z ``[64, 128, 256]``, requiring grad, no stop-gradient, tau 10,
mean distance), the loss is timed on a bidirectional ring (128 edges), on G_N^k graphs with
k = 64, 256, 1024 and 4032 edges, and on all-to-all (4032 edges), the latter twice: as
``closer_loss`` computes it (graphs with E >= 0.6 N^2 take one Gram GEMM, see
``graphens.loss.gram_edge_losses``) and forced through the per-edge products (``gram=False``)
that the sparser graphs use. graphens promises O(E B²)
time and memory: the ring must cost at most 1/10 of all-to-all in both, and the sweep should
grow linearly in E (a log-log slope near 1).

Time: median of ``--repeats`` calls of ``closer_loss(z, ...).backward()`` after a warm-up call.

Peak memory: each case runs in a fresh Python subprocess (a finished case's freed memory,
kept by the allocator, cannot hide the next one's). After the imports and allocating z, the
worker resets the kernel's peak-RSS counter (``/proc/self/clear_refs`` ← 5, so ``VmHWM``
restarts from the current RSS) and records the current RSS as the baseline; the reported
peak is ``VmHWM - baseline`` after all the loss calls: the extra resident memory the loss
needed at its worst moment, as the operating system sees it (tensors, allocator slack and
any library workspace included). Where ``clear_refs`` is not writable the worker falls back to
``resource.getrusage`` peak RSS minus the same baseline (then a peak below the import-time
high-water mark is reported as that upper bound, and the output says so). The dominant
E-dependent tensors are also counted analytically (``analytic_mb``: the gathered student and
teacher embeddings, 2 E B D floats, plus one E B B matrix) as a sanity check.

Usage::

    python benchmarks/bench_loss_scaling.py                   # the numbers in README.md
    python benchmarks/bench_loss_scaling.py --repeats 3 --threads 2

Writes ``benchmarks/out/loss_scaling/results.json``, ``results.md`` and, when matplotlib is
importable, ``loss_scaling.png`` (time and peak memory against edges, log-log).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

NODES, BATCH, DIM = 64, 128, 256


# --------------------------------------------------------------------------------------------
# Worker (one case, fresh process)
# --------------------------------------------------------------------------------------------


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def worker(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from graphens.loss import closer_loss
    from graphens.topology import make_topology

    if args.threads:
        torch.set_num_threads(args.threads)
    params = {"k": args.k} if args.family == "gnk" else {}
    graph = make_topology(args.family, args.nodes, seed=args.seed, **params)
    edge_index, edge_weight = graph.edge_index, graph.edge_weight
    z = torch.randn(args.nodes, args.batch, args.dim,
                    generator=torch.Generator().manual_seed(args.seed), requires_grad=True)
    stop = None if args.stop_gradient == "none" else args.stop_gradient
    gram = False if args.per_edge else None

    def call() -> None:
        z.grad = None
        closer_loss(z, edge_index, edge_weight, stop_gradient=stop, gram=gram).backward()

    import gc

    gc.collect()
    peak_reset = _reset_peak()
    baseline_kb = _status_kb("VmRSS") or 0
    hwm_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    call()  # warm-up, also part of the memory measurement
    times = []
    for _ in range(args.repeats):
        tick = time.perf_counter()
        call()
        times.append(time.perf_counter() - tick)
    if peak_reset:
        peak_kb, method = _status_kb("VmHWM") or 0, "VmHWM after clear_refs"
    else:
        peak_kb, method = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"
    num_edges = edge_index.shape[1]
    times.sort()
    return {
        "family": args.family, "k": args.k if args.family == "gnk" else None,
        "per_edge": args.per_edge,
        "num_nodes": args.nodes, "num_edges": num_edges, "batch": args.batch, "dim": args.dim,
        "times_s": times, "median_s": times[len(times) // 2] if len(times) % 2 else
        0.5 * (times[len(times) // 2 - 1] + times[len(times) // 2]),
        "peak_extra_mb": (peak_kb - baseline_kb) / 1024, "baseline_rss_mb": baseline_kb / 1024,
        "peak_method": method,
        "peak_is_upper_bound": (not peak_reset) and peak_kb <= hwm_before_kb,
        "analytic_mb": (2 * num_edges * args.batch * args.dim
                        + num_edges * args.batch * args.batch) * 4 / 2**20,
        "torch_threads": torch.get_num_threads(),
    }


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def run_case(family: str, k: int | None, args: argparse.Namespace,
             per_edge: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--family", family,
           "--nodes", str(args.nodes), "--batch", str(args.batch), "--dim", str(args.dim),
           "--repeats", str(args.repeats), "--seed", str(args.seed),
           "--stop-gradient", args.stop_gradient]
    if k is not None:
        cmd += ["--k", str(k)]
    if per_edge:
        cmd += ["--per-edge"]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def loglog_slope(xs: list[float], ys: list[float]) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(max(y, 1e-12)) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return (sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True))
            / sum((a - mx) ** 2 for a in lx))


def affine_fit(xs: list[float], ys: list[float]) -> dict[str, float]:
    """Least squares ``y = intercept + per_edge * x`` and the largest relative residual."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = (sum((a - mx) * (b - my) for a, b in zip(xs, ys, strict=True))
             / sum((a - mx) ** 2 for a in xs))
    intercept = my - slope * mx
    worst = max(abs(intercept + slope * a - b) / b for a, b in zip(xs, ys, strict=True))
    return {"intercept": intercept, "per_edge": slope, "max_rel_residual": worst}


def plot(cases: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    sweep = sorted((c for c in cases if c["family"] == "gnk"), key=lambda c: c["num_edges"])
    for ax, key, scale, label in ((axes[0], "median_s", 1e3, "forward + backward time (ms)"),
                                  (axes[1], "peak_extra_mb", 1.0, "peak extra RSS (MiB)")):
        ax.plot([c["num_edges"] for c in sweep], [c[key] * scale for c in sweep], "o-",
                label="G_N^k sweep")
        for c, marker in ((next(c for c in cases if c["family"] == "ring"), "s"),
                          (next(c for c in cases if c["family"] == "all-to-all"), "^")):
            ax.plot([c["num_edges"]], [c[key] * scale], marker, ms=9,
                    label=f"{c['family']} ({c['num_edges']} edges)")
        ref = sweep[0]
        xs = [c["num_edges"] for c in sweep]
        ax.plot(xs, [ref[key] * scale * x / ref["num_edges"] for x in xs], "k:", lw=1,
                label="linear in E")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("edges E")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"closer_loss, {cases[0]['num_nodes']} nodes, B {cases[0]['batch']}, "
                 f"D {cases[0]['dim']}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return True


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=NODES)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--dim", type=int, default=DIM)
    parser.add_argument("--ks", default="64,256,1024,4032", help="G_N^k edge counts to sweep")
    parser.add_argument("--stop-gradient", default="none", choices=("none", "teacher", "student"))
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to SECONDS for other CPU-heavy processes to end")
    parser.add_argument("--out", default=None, help="output root (default benchmarks/out)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--family", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--k", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--per-edge", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return None

    from _common import (
        ContentionMonitor,
        contention_note,
        environment,
        markdown_table,
        wait_until_idle,
        write_results,
    )

    if args.wait_idle > 0:
        wait_until_idle(args.wait_idle)
    ks = [int(k) for k in args.ks.split(",")]
    # All-to-all twice: as closer_loss computes it by default (one Gram GEMM, dense graphs)
    # and forced through the per-edge products that every sparser graph uses.
    plan: list[tuple[str, int | None, bool]] = [("ring", None, False), ("all-to-all", None, False),
                                                ("all-to-all", None, True)]
    plan += [("gnk", k, False) for k in ks]
    cases = []
    with ContentionMonitor() as monitor:
        for family, k, per_edge in plan:
            case = run_case(family, k, args, per_edge)
            cases.append(case)
            print(f"{family:>10} k={k}{' per-edge' if per_edge else ''}: "
                  f"E={case['num_edges']:5d}  "
                  f"{case['median_s'] * 1e3:9.1f} ms  peak +{case['peak_extra_mb']:8.1f} MiB",
                  flush=True)
    ring = next(c for c in cases if c["family"] == "ring")
    dense = next(c for c in cases if c["family"] == "all-to-all" and not c["per_edge"])
    dense_edges = next(c for c in cases if c["family"] == "all-to-all" and c["per_edge"])
    sweep = sorted((c for c in cases if c["family"] == "gnk"), key=lambda c: c["num_edges"])
    time_ratio = ring["median_s"] / dense["median_s"]
    mem_ratio = ring["peak_extra_mb"] / dense["peak_extra_mb"]
    edge_ratios = {"time": ring["median_s"] / dense_edges["median_s"],
                   "memory": ring["peak_extra_mb"] / dense_edges["peak_extra_mb"]}
    edges = [c["num_edges"] for c in sweep]
    slopes = {"time": loglog_slope(edges, [c["median_s"] for c in sweep]),
              "memory": loglog_slope(edges, [c["peak_extra_mb"] for c in sweep])}
    fits = {"time_ms": affine_fit(edges, [c["median_s"] * 1e3 for c in sweep]),
            "memory_mib": affine_fit(edges, [c["peak_extra_mb"] for c in sweep])}

    rows = []
    for c in [ring, dense, dense_edges, *sweep]:
        name = f"G_N^k, k {c['k']}" if c["family"] == "gnk" else c["family"]
        if c["per_edge"]:
            name += " (forced per-edge products)"
        rows.append([name, c["num_edges"], f"{c['median_s'] * 1e3:.1f}",
                     f"{c['median_s'] * 1e6 / c['num_edges']:.0f}",
                     f"{c['peak_extra_mb']:.0f}" + (" (≤)" if c["peak_is_upper_bound"] else ""),
                     f"{c['peak_extra_mb'] * 1024 / c['num_edges']:.0f}",
                     f"{c['analytic_mb']:.0f}"])
    table = markdown_table([f"graph ({args.nodes} nodes)", "edges", "fwd+bwd ms (median)",
                            "µs / edge", "peak extra RSS MiB", "KiB / edge", "analytic MiB"], rows)
    verdict = (
        f"Ring / all-to-all: time {time_ratio:.3f} ({1 / time_ratio:.0f}× less), peak memory "
        f"{mem_ratio:.3f} ({1 / mem_ratio:.0f}× less); target ≤ 0.1 in both: "
        f"{'met' if time_ratio <= 0.1 and mem_ratio <= 0.1 else 'MISSED'}. Against all-to-all "
        f"forced through the per-edge products: time {edge_ratios['time']:.3f}, memory "
        f"{edge_ratios['memory']:.3f}. Log-log slope over "
        f"the G_N^k sweep ({edges[0]}–{edges[-1]} edges): time {slopes['time']:.2f}, memory "
        f"{slopes['memory']:.2f} (1 = proportional to E). Affine fit cost = a + b·E over the "
        f"sweep: time a = {fits['time_ms']['intercept']:.1f} ms, b = "
        f"{fits['time_ms']['per_edge'] * 1e3:.0f} µs/edge (worst residual "
        f"{fits['time_ms']['max_rel_residual']:.0%}); memory a = "
        f"{fits['memory_mib']['intercept']:.0f} MiB, b = "
        f"{fits['memory_mib']['per_edge'] * 1024:.0f} KiB/edge (worst residual "
        f"{fits['memory_mib']['max_rel_residual']:.0%}).")
    method = (f"Peak memory: {cases[0]['peak_method']}, each case in a fresh process, minus "
              "the RSS after imports and z (see the script's docstring). 'analytic' counts "
              "only the gathered embeddings (2 E B D floats) and one E B B matrix.")
    env = environment("cpu")
    busy = monitor.report()
    footer = (f"closer_loss forward + backward, B {args.batch}, D {args.dim}, stop_gradient "
              f"{args.stop_gradient}, {args.repeats} repeats after 1 warm-up; torch "
              f"{env['torch']}, {cases[0]['torch_threads']} threads, {env['cpu_count']} CPUs "
              f"({env['processor']}){''.join(f', {k}={v}' for k, v in env['env'].items())}. "
              f"{contention_note(busy)}")
    markdown = "\n\n".join([table, verdict, method, footer])
    print("\n" + markdown)
    payload = {"benchmark": "loss_scaling", "args": vars(args), "environment": env,
               "cases": cases, "ring_over_all_to_all": {"time": time_ratio, "memory": mem_ratio},
               "ring_over_all_to_all_per_edge": edge_ratios,
               "loglog_slope": slopes, "affine_fit": fits, "contention": busy}
    from _common import OUT_ROOT

    folder = write_results("loss_scaling", payload, markdown, args.out)
    png = Path(args.out or OUT_ROOT) / "loss_scaling" / "loss_scaling.png"
    if plot(cases, png):
        print(f"wrote {png}")
    print(f"wrote {folder}/results.json and results.md")
    return payload


if __name__ == "__main__":
    main()
