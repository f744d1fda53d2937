"""Benchmark: training-step cost against the number of nodes (issue 13, item 5).

One family at a fixed mean in-degree: :math:`G_N^k` (``gnk``, k ordered pairs drawn uniformly,
weight 1) with ``k = round(7.58 N)`` edges, the C. elegans connectome's 2266 / 299, for N in
``--nodes``; the reference is the paper's 10-node all-to-all; and the connectome itself
(``connectome:celegans-white1986``, ``map=all``: 299 nodes, 2266 edges). Every ensemble is the
paper's MLP (1024-512-256 → D 256, GELU, dropout 0.1 on) over digits-sized inputs (8×8 = 64
signals, random fields with d 0.1: 6 signals per node), batch 128, CLoSeR τ 10, SlicedNAdam
(lr 1e-3, eps 1e-7).

A step is timed by phase: gather, node-bank forward, loss forward, loss backward (to the
embeddings), encoder backward, optimiser (zero_grad + step). Two code versions run side by
side in one process: ``after`` is the working tree's :mod:`graphens.loss` and
:mod:`graphens.optim`, ``before`` the same two files read from git revision ``--before`` (the
node bank and the ensemble are shared: they did not change). Each case is interleaved with the
10-node all-to-all reference in every repeat (reference before, reference after, case before,
case after), so each case's ratio to the reference is measured under the same load; medians
over repeats.

Memory, on the CPU, is reported two ways: ``state`` = parameters + gradients + NAdam's two
moments (4 × the parameter bytes), and ``saved`` = the bytes autograd keeps for the backward
pass (every tensor saved by the forward and the loss, counted once per storage, measured with
``torch.autograd.graph.saved_tensors_hooks``). On CUDA it is ``torch.cuda.max_memory_allocated``
over the case's steps. A case whose estimate does not fit in the memory the machine has
available is not run (its estimate is still given).

Usage::

    python benchmarks/bench_nodes.py --before d94cb44 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import torch
from _common import (
    ContentionMonitor,
    contention_note,
    environment,
    markdown_table,
    sync,
    write_results,
)

import graphens.loss
import graphens.optim
from graphens.encoders import mlp_encoder
from graphens.ensemble import Ensemble
from graphens.graph import ensemble_graph
from graphens.receptive_fields import sample_receptive_fields
from graphens.topology import make_topology

ROOT = Path(__file__).resolve().parent.parent
SIGNALS, FRACTION, BATCH, TAU = 64, 0.1, 128, 10.0
DEGREE = 2266 / 299  # the connectome's mean in-degree
PHASES = ("gather", "bank forward", "loss forward", "loss backward", "encoder backward",
          "optimiser")


def old_module(revision: str, path: str, name: str) -> types.ModuleType:
    """The file ``path`` of git ``revision`` as a module (imports resolve to the working
    tree, whose other modules are what both versions share)."""
    source = subprocess.run(["git", "show", f"{revision}:{path}"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType(name)
    module.__file__ = f"{revision}:{path}"
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102
    return module


class Case:
    """One ensemble with an optimiser per code version."""

    def __init__(self, label: str, topology: Any, versions: dict[str, types.SimpleNamespace],
                 device: torch.device) -> None:
        self.label = label
        fields = sample_receptive_fields("random", topology.num_nodes, SIGNALS,
                                         fraction=FRACTION, seed=0)
        self.ensemble = Ensemble(ensemble_graph(topology, fields), mlp_encoder(), seed=0)
        self.ensemble.to(device).train()
        self.nodes, self.edges = topology.num_nodes, topology.edge_index.shape[1]
        self.versions = versions
        params = list(self.ensemble.parameters())
        self.optimizers = {name: v.optim.SlicedNAdam(params, lr=1e-3, eps=1e-7)
                           for name, v in versions.items()}
        self.pieces = {name: len(opt.optimizer.param_groups[0]["params"])
                       for name, opt in self.optimizers.items()}
        self.param_bytes = sum(p.numel() * p.element_size() for p in params)
        self.times: dict[str, dict[str, list[float]]] = {
            name: {phase: [] for phase in (*PHASES, "step", "cpu")} for name in versions}
        self.saved_bytes = 0
        self.cuda_peak: dict[str, int] = {}

    def step(self, version: str, x: torch.Tensor, device: torch.device) -> list[float]:
        """One training step; seconds of each phase."""
        graph, loss_fn = self.ensemble.graph, self.versions[version].loss.closer_loss
        optimizer = self.optimizers[version]
        ticks = [time.perf_counter()]

        def tick() -> None:
            sync(device)
            ticks.append(time.perf_counter())

        views = self.ensemble.gather(x)
        tick()
        z = self.ensemble.bank(views)
        tick()
        leaf = z.detach().requires_grad_()
        loss = loss_fn(leaf, graph.edge_index, graph.edge_weight, tau=TAU)
        tick()
        (grad_z,) = torch.autograd.grad(loss, leaf)
        tick()
        optimizer.zero_grad(set_to_none=True)
        z.backward(grad_z)
        tick()
        optimizer.step()
        tick()
        return [b - a for a, b in zip(ticks, ticks[1:], strict=False)]

    def record(self, version: str, x: torch.Tensor, device: torch.device, steps: int) -> None:
        for _ in range(steps):
            cpu = time.process_time()
            phases = self.step(version, x, device)
            self.times[version]["cpu"].append(time.process_time() - cpu)
            for phase, seconds in zip(PHASES, phases, strict=True):
                self.times[version][phase].append(seconds)
            self.times[version]["step"].append(sum(phases))

    def measure_saved(self, x: torch.Tensor) -> None:
        """Bytes autograd saves for backward in one forward + loss (one count per storage)."""
        storages: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            storage = t.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
            return t

        graph = self.ensemble.graph
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            z = self.ensemble(x)
            loss = graphens.loss.closer_loss(z, graph.edge_index, graph.edge_weight, tau=TAU)
        del z, loss
        self.saved_bytes = sum(storages.values())

    def median(self, version: str, phase: str = "step") -> float:
        return statistics.median(self.times[version][phase])


def available_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def estimate_bytes(nodes: int, edges: int, optimizers: int) -> int:
    """Parameters, gradients, ``optimizers`` × NAdam's two moments, saved activations, and the
    loss's per-edge tensors (gathered embeddings and B×B logits), for the paper's MLP."""
    per_node_params = (6 * 1024 + 1024) + (1024 * 512 + 512) + (512 * 256 + 256) + 256 * 257
    state = 4 * per_node_params * nodes * (2 + 2 * optimizers)
    activations = 4 * BATCH * nodes * (4 * 1024 + 4 * 512 + 4 * 256 + 256)
    loss = 4 * BATCH * edges * (3 * 256 + 3 * BATCH)
    return state + activations + loss


def build_topology(kind: str, nodes: int | None) -> Any:
    if kind == "all-to-all":
        return make_topology("all-to-all", nodes)
    if kind == "gnk":
        return make_topology("gnk", nodes, seed=0, k=round(DEGREE * nodes))
    return make_topology("connectome:celegans-white1986", None, map="all")


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    versions = {"after": types.SimpleNamespace(loss=graphens.loss, optim=graphens.optim)}
    if args.before:
        versions = {"before": types.SimpleNamespace(
            loss=old_module(args.before, "graphens/loss.py", "before_loss"),
            optim=old_module(args.before, "graphens/optim.py", "before_optim")), **versions}
    x = torch.rand(BATCH, SIGNALS, generator=torch.Generator().manual_seed(0)).to(device)
    reference = Case("all-to-all, N 10", build_topology("all-to-all", 10), versions, device)
    reference.measure_saved(x)
    plan = [("gnk", n) for n in args.nodes] + ([("connectome", 299)] if args.connectome else [])
    results: dict[str, Any] = {"cases": [], "skipped": []}
    for kind, nodes in plan:
        topology = build_topology(kind, nodes)
        label = (f"G_N^k, N {topology.num_nodes}" if kind == "gnk"
                 else "C. elegans (connectome, map=all)")
        need = estimate_bytes(topology.num_nodes, topology.edge_index.shape[1], len(versions))
        free = available_bytes()
        if device.type == "cpu" and free is not None and need > 0.8 * free:
            print(f"skipping {label}: needs ~{need / 2**30:.1f} GiB, "
                  f"{free / 2**30:.1f} GiB available", flush=True)
            results["skipped"].append({"case": label, "nodes": topology.num_nodes,
                                       "edges": topology.edge_index.shape[1],
                                       "estimate_bytes": need, "available_bytes": free})
            continue
        case = Case(label, topology, versions, device)
        case.measure_saved(x)
        print(f"{label}: {case.nodes} nodes, {case.edges} edges", flush=True)
        for version in versions:  # warm-up: allocate optimiser state, fault in buffers
            reference.record(version, x, device, 1)
            case.record(version, x, device, 1)
        for case_ in (reference, case):
            for version in versions:
                for phase in case_.times[version]:
                    case_.times[version][phase].clear()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        steps = max(1, round(args.case_steps * 10 / case.nodes))
        for _ in range(args.repeats):
            for version in versions:
                reference.record(version, x, device, args.case_steps)
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                case.record(version, x, device, steps)
                if device.type == "cuda":
                    case.cuda_peak[version] = torch.cuda.max_memory_allocated(device)
        results["cases"].append(summarise(case, reference, versions))
        print(format_case(results["cases"][-1]), flush=True)
        del case
    return results


def summarise(case: Case, reference: Case, versions: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"case": case.label, "nodes": case.nodes, "edges": case.edges,
                           "state_bytes": 4 * case.param_bytes, "saved_bytes": case.saved_bytes,
                           "reference_saved_bytes": reference.saved_bytes,
                           "reference_state_bytes": 4 * reference.param_bytes,
                           "pieces": case.pieces, "cuda_peak_bytes": case.cuda_peak,
                           "versions": {}}
    for version in versions:
        step, ref = case.median(version), reference.median(version)
        rate, ref_rate = case.nodes * BATCH / step, reference.nodes * BATCH / ref
        out["versions"][version] = {
            "step_s": step, "node_samples_per_s": rate, "reference_step_s": ref,
            "reference_node_samples_per_s": ref_rate, "ratio": rate / ref_rate,
            "cpu_s": case.median(version, "cpu"), "reference_cpu_s": reference.median(
                version, "cpu"),
            "cpu_ratio": reference.median(version, "cpu") * case.nodes
            / (case.median(version, "cpu") * reference.nodes),
            "phases_s": {phase: case.median(version, phase) for phase in PHASES},
            "reference_phases_s": {phase: reference.median(version, phase) for phase in PHASES},
            "times": case.times[version], "reference_times": reference.times[version]}
    return out


def format_case(row: dict[str, Any]) -> str:
    parts = [f"{row['case']}:"]
    for version, v in row["versions"].items():
        parts.append(f"{version} {v['step_s'] * 1e3:.0f} ms/step, "
                     f"{v['node_samples_per_s'] / 1e3:.1f}k node-samples/s, "
                     f"{v['ratio']:.2f}x the 10-node reference")
    return " | ".join(parts)


def report(results: dict[str, Any], args: argparse.Namespace, busy: list) -> str:
    versions = list(results["cases"][0]["versions"]) if results["cases"] else []
    rows = []
    for row in results["cases"]:
        ratios = " / ".join(f"{row['versions'][v]['ratio']:.2f}×" for v in versions)
        steps = " / ".join(f"{row['versions'][v]['step_s'] * 1e3:.0f}" for v in versions)
        refs = " / ".join(f"{row['versions'][v]['reference_step_s'] * 1e3:.0f}"
                          for v in versions)
        rates = " / ".join(f"{row['versions'][v]['node_samples_per_s'] / 1e3:.2f}k"
                           for v in versions)
        cpu = " / ".join(f"{row['versions'][v]['cpu_ratio']:.2f}×" for v in versions)
        rows.append([row["case"], row["nodes"], row["edges"], steps, rates, refs, ratios, cpu,
                     f"{row['state_bytes'] / 2**20:.0f}", f"{row['saved_bytes'] / 2**20:.0f}"])
    ref_state = results["cases"][0]["reference_state_bytes"] if results["cases"] else 0
    ref_saved = results["cases"][0]["reference_saved_bytes"] if results["cases"] else 0
    rows.append(["all-to-all, N 10 (reference)", 10, 90, "(column 6)", "", "", "1×", "1×",
                 f"{ref_state / 2**20:.0f}", f"{ref_saved / 2**20:.0f}"])
    for skip in results["skipped"]:
        rows.append([skip["case"], skip["nodes"], skip["edges"], "not run", "", "", "", "",
                     f"estimate {skip['estimate_bytes'] / 2**30:.1f} GiB in all",
                     f"(available {skip['available_bytes'] / 2**30:.1f} GiB)"])
    label = " / ".join(versions)
    table = markdown_table(
        ["case", "N", "E", f"ms/step ({label})", f"node-samples/s ({label})",
         f"reference ms/step, same repeats ({label})",
         f"node-samples/s ÷ reference's ({label})", f"same, from CPU time ({label})",
         "state MiB", "saved for backward MiB"],
        rows)
    phase_rows = []
    for row in results["cases"]:
        for version in versions:
            v = row["versions"][version]
            scale = row["nodes"] / 10
            phase_rows.append(
                [row["case"], version]
                + [f"{v['phases_s'][p] * 1e3:.0f} ({v['phases_s'][p] / max(v['reference_phases_s'][p], 1e-9) / scale:.2f})"  # noqa: E501
                   for p in PHASES])
    phases = markdown_table(["case", "version", *PHASES], phase_rows)
    return (f"Training step against N, {BATCH} samples, paper MLP, digits-sized inputs "
            f"(6 signals per node), {torch.get_num_threads()} torch threads, "
            f"{args.repeats} interleaved repeats, medians; ratio = "
            "node-samples/s of the case ÷ that of the 10-node all-to-all reference in the "
            f"same repeats (target ≥ 0.8).\n\n{table}\n\nPhase medians in ms, in brackets the "
            "phase's time ÷ (N/10 × the reference's same phase): 1 = linear in N.\n\n"
            f"{phases}\n\n{contention_note(busy)}\n\nCommand: `python benchmarks/bench_nodes.py "
            f"{' '.join(sys.argv[1:])}`\n")


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [c for c in results["cases"] if c["case"].startswith("G_N^k")]
    if not cases:
        return
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for version, marker in (("before", "s"), ("after", "o")):
        if version not in cases[0]["versions"]:
            continue
        n = [c["nodes"] for c in cases]
        t = [c["versions"][version]["step_s"] for c in cases]
        ax.plot(n, t, marker=marker, label=f"G_N^k, {version}")
        ref = statistics.median(c["versions"][version]["reference_step_s"] for c in cases)
        ax.plot([10, max(n)], [ref, ref * max(n) / 10], ls=":", color="grey" if version ==
                "after" else "silver", label=f"linear from 10-node all-to-all ({version})")
        for c in results["cases"]:
            if c["case"].startswith("C. elegans"):
                ax.plot([c["nodes"]], [c["versions"][version]["step_s"]], marker="*", ms=12,
                        ls="none", label=f"C. elegans, {version}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("nodes N (mean in-degree 7.6)")
    ax.set_ylabel("training step (s)")
    ax.set_title("Step time against N (CPU, B 128, paper MLP)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[10, 30, 100, 299, 1000])
    parser.add_argument("--no-connectome", dest="connectome", action="store_false")
    parser.add_argument("--before", default=None,
                        help="git revision whose loss.py and optim.py are the 'before' code")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--case-steps", type=int, default=3,
                        help="steps of the reference per repeat (a case of N nodes runs "
                             "max(1, round(this × 10 / N)))")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads (default: torch's); 1 measures CPU work "
                             "without the thread barriers that a shared machine stalls")
    parser.add_argument("--markdown", type=Path,
                        default=ROOT / "benchmarks" / "tables" / "node_scaling.md")
    parser.add_argument("--figure", type=Path,
                        default=ROOT / "benchmarks" / "figures" / "node_scaling.png")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    with ContentionMonitor() as monitor:
        results = run(args)
    busy = monitor.report()
    text = report(results, args, busy)
    results.update(environment=environment(args.device), busy=busy, argv=sys.argv[1:])
    folder = write_results("node_scaling", results, text)
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(text)
    plot(results, args.figure)
    print(text)
    print(f"wrote {folder}, {args.markdown}, {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
