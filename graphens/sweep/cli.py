"""``graphens sweep SPEC --out DIR`` and ``graphens report DIR``.

:func:`add_parsers` registers both sub-commands on the main parser's sub-parsers; each sets
``handler`` (``args.handler(args) -> exit code``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parsers(commands: Any, subparser: Any) -> None:
    """Register ``sweep`` and ``report`` on ``commands`` (from ``add_subparsers``), each made by
    ``subparser(commands, name, **kwargs)`` (graphens.cli's: defaults shown, no abbreviations)."""
    sweep = subparser(
        commands, "sweep", help="run every trial of a sweep spec, one results table",
        description="Expand a sweep spec (TOML, YAML or JSON: fixed run fields, axes, "
                    "topologies) into trials and run those without results in --out; writes "
                    "DIR/results.parquet (or .csv without pyarrow), one row per trial. "
                    "Re-running the same command resumes.")
    sweep.add_argument("spec", help="the spec file (.toml, .yaml, .json)")
    sweep.add_argument("--out", default=None,
                       help="sweep directory (default: runs/sweeps/<spec name>)")
    sweep.add_argument("--executor", choices=["local", "ray"], default="local",
                       help="local: this process or a process pool; ray: one Ray task per "
                            "trial")
    sweep.add_argument("--workers", type=int, default=None,
                       help="local: concurrent trial processes (default: one per 2 cores; 1 "
                            "runs in this process); ray: CPUs of the local Ray instance")
    sweep.add_argument("--address", default=None,
                       help="ray: join this cluster (host:port, ray://host:port, auto) instead "
                            "of starting a local instance")
    sweep.add_argument("--cpus-per-trial", type=float, default=None,
                       help="ray: CPUs each trial asks for (default: spec's resources.cpus, 1)")
    sweep.add_argument("--gpus-per-trial", type=float, default=None,
                       help="ray: GPUs each trial asks for (default: spec's resources.gpus, 0)")
    sweep.add_argument("--retries", type=int, default=None,
                       help="ray: times a trial whose worker died is re-run (default 2)")
    sweep.add_argument("--timeout", type=float, default=60.0,
                       help="ray: seconds to wait for --address to answer")
    sweep.add_argument("--force", action="store_true",
                       help="reuse --out although it holds another spec's sweep")
    sweep.add_argument("--pack", choices=["auto", "on", "off"], default="auto",
                       help="on: trials that differ only in topology, tau, distance or "
                            "stop-gradient train together as one fleet (one PyG batch); off: "
                            "one by one; auto: on when the trials train on a GPU, off on the "
                            "CPU (slower there). Results, directories and resume are the same")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(handler=run_sweep)

    report = subparser(
        commands, "report", help="plots and a Markdown summary of a sweep (or a plastic run)",
        description="Read a sweep's results table and write PNG plots (accuracy against "
                    "edges, compute, swept axes and graph metrics) and report.md (95 % CIs "
                    "over seeds, rank correlations, paired tests at matched edge counts). "
                    "Given one run directory trained with --plasticity: the adjacency over "
                    "time, the graph metrics' trajectories and plasticity.md.")
    report.add_argument("dir", help="the sweep directory (or its results.parquet/.csv), or "
                                    "one run's --out")
    report.add_argument("--out", default=None, help="where to write (default: DIR/report)")
    report.add_argument("--compare", action="append", nargs=2, default=[], metavar=("A", "B"),
                        help="only test these two series/labels against each other, at any "
                             "edge counts, baselines included (e.g. all-to-all untrained); "
                             "repeatable (default: every pair of CLoSeR series at matched "
                             "edge counts)")
    report.add_argument("--edge-tolerance", type=float, default=0.0,
                        help="without --compare: relative edge-count difference still "
                             "counted as matched")
    report.set_defaults(handler=run_report)


def run_sweep(args: argparse.Namespace) -> int:
    """Handler of ``graphens sweep``."""
    from graphens.sweep.api import sweep
    from graphens.sweep.spec import load_spec

    spec = load_spec(args.spec)
    out = args.out or f"runs/sweeps/{spec.name}"
    resources = {key: value for key, value in (("cpus", args.cpus_per_trial),
                                               ("gpus", args.gpus_per_trial),
                                               ("retries", args.retries)) if value is not None}
    table = sweep(spec, out, executor=args.executor, workers=args.workers,
                  force=args.force, address=args.address, resources=resources,
                  progress=not args.quiet, timeout=args.timeout, pack=args.pack)
    rows = table.to_dict("records") if hasattr(table, "to_dict") else table
    counts = {status: sum(r["status"] == status for r in rows)
              for status in ("ok", "failed", "pending")}
    warned = sum(bool(r.get("warnings")) for r in rows if r["status"] == "ok")
    print(f"{len(rows)} trials: {counts['ok']} ok, {counts['failed']} failed, "
          f"{counts['pending']} pending; table in {out}/results.*; plots: graphens report "
          f"{out}")
    if warned:
        print(f"graphens: warning: {warned} trial(s) finished with warnings (training that did "
              "not work, unconverged probes); see the table's warning_text column.",
              file=sys.stderr)
    return 1 if counts["failed"] else 0


def run_report(args: argparse.Namespace) -> int:
    """Handler of ``graphens report``: a sweep, or one run trained with plasticity."""
    from pathlib import Path

    from graphens.sweep.report import write_report

    if (Path(args.dir) / "results.json").is_file():  # one run: draw its plasticity
        from graphens.plasticity_plot import write_plasticity_report

        done = write_plasticity_report(args.dir, args.out)
    else:
        done = write_report(args.dir, args.out, compare=[tuple(p) for p in args.compare],
                            edge_tolerance=args.edge_tolerance)
    print(f"report: {done['summary']}")
    for path in done["plots"].values():
        print(f"plot: {path}")
    return 0
