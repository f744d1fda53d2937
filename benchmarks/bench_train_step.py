"""Benchmark: one CLoSeR training step of graphens, and the same step written naively.

One step is what ``graphens.train`` does per batch (augmentation excluded): gather every node's
receptive field from a batch of 784-pixel images → ``NodeBank`` forward (N encoders in one
batched call) → ``closer_loss`` over the graph's edges → backward → NAdam step (lr 1e-3,
eps 1e-7). Configuration: the paper's (method.md §4-5): MLP 1024-512-256 → D 256 (GELU, dropout
0.1), batch 128, Gaussian receptive fields with d 0.1 (78 of 784 pixels per node), tau 10.

Part A (N 10, all-to-all, 90 edges): median step time, achieved FLOP/s of the useful matmuls as
a fraction of a dense 2048² float32 matmul measured in the same run, and where the time goes
(forward, loss, loss backward, encoder backward, optimiser). The optimiser is NAdam as
``graphens.train`` builds it (:class:`graphens.optim.SlicedNAdam`, stepped per node slice); the
step with PyTorch's NAdam over the stacked tensors (default loop and ``foreach=True``) is
measured too.

FLOP counting rule (only matmuls; every elementwise op, softmax, bias add and the optimiser are
left out, so the percentage is a lower bound on how busy the machine is):

* encoder forward: ``2 N B in out`` per linear layer;
* encoder backward: weight gradient ``2 N B in out`` per layer, plus input gradient
  ``2 N B in out`` per layer except the first (the pixels need no gradient) — i.e. the forward
  ×3 minus the first layer's input gradient;
* loss: forward ``2 E B B D`` (the E cross products ``S_ij T_ij^T``), backward twice that
  (gradients to the student and teacher sides; without stop-gradient both are needed).

Part B: the same step on a naive PyTorch ensemble: an ``nn.ModuleList`` of N separate MLPs
called in a Python loop, and the loss as a Python loop over edges, each with its own B×B
distance matrix and a cross-entropy (``--naive-distance``: the expanded formula
``|s|² + |t|² - 2 s·t``, default, or ``torch.cdist``), same optimiser. Before timing, the naive
ensemble receives the NodeBank's weights (``NodeBank.node_state_dict``) and both must give the
same loss (and gradients) with dropout off, within 1e-4 relative. Timed at N 10 all-to-all and
N 64 bidirectional ring (128 edges); graphens and naive steps alternate within each repeat.

Usage::

    python benchmarks/bench_train_step.py --repeats 10        # the numbers in README.md
    python benchmarks/bench_train_step.py                     # both parts, 5 repeats
    python benchmarks/bench_train_step.py --part B --naive-distance cdist
    python benchmarks/bench_train_step.py --part A --wait-idle 1200   # wait for a quiet CPU

Other processes on the CPU distort everything (OpenMP threads spin-wait): the script samples
``/proc`` every 2 s during the run and prints a WARNING naming any process that used more than
20 % of a core; rerun when it does.

Writes ``benchmarks/out/train_step/results.json`` and ``results.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch
from _common import (
    ContentionMonitor,
    contention_note,
    dense_matmul_flops,
    environment,
    fmt_gflops,
    fmt_ms,
    markdown_table,
    summary,
    sync,
    time_calls,
    wait_until_idle,
    write_results,
)
from torch import Tensor, nn
from torch.nn import functional as F

from graphens.encoders import mlp_encoder
from graphens.ensemble import Ensemble
from graphens.graph import ensemble_graph
from graphens.loss import closer_loss
from graphens.optim import SlicedNAdam
from graphens.receptive_fields import sample_receptive_fields
from graphens.topology import make_topology

IMAGE = (28, 28, 1)
HIDDEN = (1024, 512, 256)
TAU = 10.0


# --------------------------------------------------------------------------------------------
# The two implementations
# --------------------------------------------------------------------------------------------


def build_ensemble(num_nodes: int, family: str, args: argparse.Namespace,
                   device: torch.device) -> Ensemble:
    fields = sample_receptive_fields("gaussian", num_nodes, IMAGE[0] * IMAGE[1] * IMAGE[2],
                                     fraction=args.fraction, image_shape=IMAGE, seed=args.seed)
    graph = ensemble_graph(make_topology(family, num_nodes, seed=args.seed), fields)
    factory = mlp_encoder(hidden=HIDDEN, dim=args.dim, dropout=args.dropout)
    return Ensemble(graph, factory, seed=args.seed).to(device)


def make_optimizer(params, kind: str):
    """NAdam as ``graphens.train`` builds it ("sliced") or PyTorch's over whole tensors."""
    if kind == "sliced":
        return SlicedNAdam(params, lr=1e-3, eps=1e-7)
    return torch.optim.NAdam(params, lr=1e-3, eps=1e-7, foreach=kind == "foreach")


class NaiveEnsemble(nn.Module):
    """N separate encoders in an ``nn.ModuleList``, called one after another."""

    def __init__(self, ensemble: Ensemble, args: argparse.Namespace) -> None:
        super().__init__()
        graph = ensemble.graph
        if not bool(graph.rf_mask.all()):
            raise SystemExit("the naive ensemble needs equal receptive-field sizes")
        factory = mlp_encoder(hidden=HIDDEN, dim=args.dim, dropout=args.dropout)
        self.encoders = nn.ModuleList()
        for node in range(ensemble.num_nodes):
            module = factory(graph.rf_index.shape[1])
            module.load_state_dict(ensemble.bank.node_state_dict(node))
            self.encoders.append(module)
        self.fields = [graph.rf_index[node] for node in range(ensemble.num_nodes)]
        self.edges = graph.edge_index.t().tolist()  # (teacher j, student i)
        self.weights = graph.edge_weight.tolist()

    def forward(self, x: Tensor) -> list[Tensor]:
        pairs = zip(self.encoders, self.fields, strict=True)
        return [encoder(x[:, field]) for encoder, field in pairs]

    def loss(self, zs: list[Tensor], distance: str) -> Tensor:
        """CLoSeR with one B×B distance matrix and one cross-entropy per edge."""
        batch, dim = zs[0].shape
        target = torch.arange(batch, device=zs[0].device)
        total = zs[0].new_zeros(())
        for (teacher, student), weight in zip(self.edges, self.weights, strict=True):
            s, t = zs[student], zs[teacher]
            if distance == "cdist":
                sq = torch.cdist(s, t).pow(2)
            else:
                sq = s.pow(2).sum(1, keepdim=True) + t.pow(2).sum(1) - 2.0 * s @ t.T
            logits = sq.mul(-1.0 / (dim * TAU))  # [candidates b, anchors c]
            total = total + weight * F.cross_entropy(logits.T, target)
        return total


def graphens_loss(ensemble: Ensemble, z: Tensor) -> Tensor:
    """The CLoSeR loss of ``z`` over the ensemble's graph (what ``CLoSeRObjective`` computes)."""
    return closer_loss(z, ensemble.graph.edge_index, ensemble.graph.edge_weight, tau=TAU)


def graphens_step(ensemble: Ensemble, optimizer: torch.optim.Optimizer, x: Tensor) -> Tensor:
    loss = graphens_loss(ensemble, ensemble(x))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def naive_step(naive: NaiveEnsemble, optimizer: torch.optim.Optimizer, x: Tensor,
               distance: str) -> Tensor:
    loss = naive.loss(naive(x), distance)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


# --------------------------------------------------------------------------------------------
# FLOPs
# --------------------------------------------------------------------------------------------


def step_flops(num_nodes: int, batch: int, in_features: int, dim: int,
               num_edges: int) -> dict[str, float]:
    widths = [in_features, *HIDDEN, dim]
    layers = list(zip(widths[:-1], widths[1:], strict=True))
    fwd = sum(2.0 * num_nodes * batch * i * o for i, o in layers)
    first = 2.0 * num_nodes * batch * layers[0][0] * layers[0][1]
    loss_fwd = 2.0 * num_edges * batch * batch * dim
    return {"encoder_forward": fwd, "encoder_backward": 2 * fwd - first,
            "loss_forward": loss_fwd, "loss_backward": 2 * loss_fwd,
            "total": 3 * fwd - first + 3 * loss_fwd,
            "total_if_forward_x3": 3 * fwd + 3 * loss_fwd}


# --------------------------------------------------------------------------------------------
# Part A
# --------------------------------------------------------------------------------------------


PHASES = ("forward (gather + encoders)", "loss forward", "loss backward", "encoder backward",
          "optimiser (zero_grad + NAdam)")


def phase_times(ensemble: Ensemble, optimizer: torch.optim.Optimizer, x: Tensor,
                device: torch.device) -> list[float]:
    """One step cut into phases; the same arithmetic as :func:`graphens_step`."""
    marks = [time.perf_counter()]
    z = ensemble(x)
    sync(device)
    marks.append(time.perf_counter())
    z_leaf = z.detach().requires_grad_(True)
    loss = graphens_loss(ensemble, z_leaf)
    sync(device)
    marks.append(time.perf_counter())
    loss.backward()
    sync(device)
    marks.append(time.perf_counter())
    z.backward(z_leaf.grad)
    sync(device)
    marks.append(time.perf_counter())
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    sync(device)
    marks.append(time.perf_counter())
    return [b - a for a, b in zip(marks[:-1], marks[1:], strict=True)]


def part_a(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    torch.manual_seed(args.seed)
    ensemble = build_ensemble(args.nodes, "all-to-all", args, device)
    ensemble.train()
    x = torch.rand(args.batch, IMAGE[0] * IMAGE[1] * IMAGE[2],
                   generator=torch.Generator().manual_seed(args.seed)).to(device)
    num_edges = ensemble.graph.edge_index.shape[1]
    flops = step_flops(args.nodes, args.batch, ensemble.bank.in_features, args.dim, num_edges)

    matmul_before = dense_matmul_flops(args.matmul_size, args.repeats, device=device)
    steps = {}
    for label in ("sliced", "default", "foreach"):
        optimizer = make_optimizer(ensemble.parameters(), label)
        times = time_calls(lambda opt=optimizer: graphens_step(ensemble, opt, x), args.repeats,
                           args.warmup, device)
        steps[label] = summary(times)
    optimizer = make_optimizer(ensemble.parameters(), "sliced")
    for _ in range(args.warmup):
        phase_times(ensemble, optimizer, x, device)
    per_phase = [phase_times(ensemble, optimizer, x, device) for _ in range(args.repeats)]
    phases = {name: statistics.median(t[k] for t in per_phase) for k, name in enumerate(PHASES)}
    matmul_after = dense_matmul_flops(args.matmul_size, args.repeats, device=device)

    matmul_rate = statistics.median([matmul_before["flop_per_s"], matmul_after["flop_per_s"]])
    results = {"num_nodes": args.nodes, "num_edges": num_edges, "batch": args.batch,
               "in_features": ensemble.bank.in_features, "flops": flops,
               "matmul_before": matmul_before, "matmul_after": matmul_after,
               "matmul_flop_per_s": matmul_rate, "step": steps, "phases_median_s": phases}
    for label in steps:
        rate = flops["total"] / steps[label]["median_s"]
        steps[label]["flop_per_s"] = rate
        steps[label]["fraction_of_matmul"] = rate / matmul_rate
    return results


def part_a_markdown(res: dict[str, Any]) -> str:
    flops, rate = res["flops"], res["matmul_flop_per_s"]
    rows = []
    for label, text in (("sliced", "NAdam per node slice, as graphens.train builds it"),
                        ("default", "torch NAdam over stacked tensors"),
                        ("foreach", "torch NAdam foreach=True")):
        step = res["step"][label]
        rows.append([f"full step, {text}", fmt_ms(step["median_s"]),
                     f"{fmt_ms(step['min_s'])}–{fmt_ms(step['max_s'])}",
                     fmt_gflops(step["flop_per_s"]), f"{step['fraction_of_matmul']:.0%}"])
    rows.append([f"dense {res['matmul_before']['size']}² float32 matmul (same run)",
                 fmt_ms(res["matmul_before"]["median_s"]), "", fmt_gflops(rate), "100%"])
    head = (f"Part A: one training step, N {res['num_nodes']} all-to-all ({res['num_edges']} "
            f"edges), B {res['batch']}, {res['in_features']} pixels per node, MLP "
            f"{'-'.join(map(str, HIDDEN))} → 256, dropout on. Useful matmul FLOPs per step: "
            f"{flops['total'] / 1e9:.2f} G (encoders {(flops['encoder_forward'] + flops['encoder_backward']) / 1e9:.2f} G, "  # noqa: E501
            f"loss {(flops['loss_forward'] + flops['loss_backward']) / 1e9:.2f} G; with the "
            f"plain forward×3 rule {flops['total_if_forward_x3'] / 1e9:.2f} G).")
    table = markdown_table(["", "median ms", "min–max ms", "GFLOP/s", "of dense matmul"], rows)
    phase_flops = {PHASES[0]: flops["encoder_forward"], PHASES[1]: flops["loss_forward"],
                   PHASES[2]: flops["loss_backward"], PHASES[3]: flops["encoder_backward"],
                   PHASES[4]: 0.0}
    total = sum(res["phases_median_s"].values())
    prow = []
    for name, seconds in res["phases_median_s"].items():
        fl = phase_flops[name]
        prow.append([name, fmt_ms(seconds), f"{seconds / total:.0%}",
                     fmt_gflops(fl / seconds) if fl else "–",
                     f"{fl / seconds / rate:.0%}" if fl else "–"])
    prow.append(["sum of phase medians", fmt_ms(total), "100%", "", ""])
    ptable = markdown_table(["phase (NAdam as graphens.train builds it)", "median ms", "share",
                             "GFLOP/s",
                             "of dense matmul"], prow)
    return f"{head}\n\n{table}\n\nWhere the time goes:\n\n{ptable}"


# --------------------------------------------------------------------------------------------
# Part B
# --------------------------------------------------------------------------------------------


def check_same_loss(ensemble: Ensemble, naive: NaiveEnsemble, x: Tensor,
                    distance: str) -> dict[str, float]:
    """Same weights, dropout off: losses and all gradients must agree within 1e-4 relative."""
    ensemble.eval()
    naive.eval()
    ensemble.zero_grad(set_to_none=True)
    naive.zero_grad(set_to_none=True)
    ours = graphens_loss(ensemble, ensemble(x))
    theirs = naive.loss(naive(x), distance)
    ours.backward()
    theirs.backward()
    ours, theirs = float(ours.detach()), float(theirs.detach())
    loss_rel = abs(ours - theirs) / abs(theirs)
    diff2 = ref2 = 0.0
    for node, encoder in enumerate(naive.encoders):
        for name, param in encoder.named_parameters():
            bank_grad = ensemble.bank.params[name.replace(".", "/")].grad[node]
            diff2 += float((bank_grad - param.grad).pow(2).sum())
            ref2 += float(param.grad.pow(2).sum())
    grad_rel = (diff2 / ref2) ** 0.5
    ensemble.zero_grad(set_to_none=True)
    naive.zero_grad(set_to_none=True)
    ensemble.train()
    naive.train()
    if not (loss_rel <= 1e-4 and grad_rel <= 1e-4):
        raise SystemExit(f"graphens and the naive ensemble disagree: loss {ours} vs "
                         f"{theirs} (rel {loss_rel:.2e}), gradients rel {grad_rel:.2e}")
    return {"loss_graphens": ours, "loss_naive": theirs,
            "loss_rel_diff": loss_rel, "grad_rel_diff": grad_rel}


def part_b_case(num_nodes: int, family: str, args: argparse.Namespace,
                device: torch.device) -> dict[str, Any]:
    torch.manual_seed(args.seed)
    ensemble = build_ensemble(num_nodes, family, args, device)
    naive = NaiveEnsemble(ensemble, args).to(device)
    x = torch.rand(args.batch, IMAGE[0] * IMAGE[1] * IMAGE[2],
                   generator=torch.Generator().manual_seed(args.seed)).to(device)
    check = check_same_loss(ensemble, naive, x, args.naive_distance)
    opt_ours = make_optimizer(ensemble.parameters(), "foreach" if args.nadam_foreach else "sliced")
    opt_naive = make_optimizer(naive.parameters(), "foreach" if args.nadam_foreach else "default")

    def ours() -> None:
        graphens_step(ensemble, opt_ours, x)

    def theirs() -> None:
        naive_step(naive, opt_naive, x, args.naive_distance)

    for _ in range(args.warmup):
        ours()
        theirs()
    t_ours, t_naive = [], []
    for _ in range(args.repeats):  # alternate, so drift hits both sides alike
        t_ours += time_calls(ours, 1, 0, device)
        t_naive += time_calls(theirs, 1, 0, device)
    s_ours, s_naive = summary(t_ours), summary(t_naive)
    return {"num_nodes": num_nodes, "topology": family,
            "num_edges": ensemble.graph.edge_index.shape[1], "check": check,
            "graphens": s_ours, "naive": s_naive,
            "speedup": s_naive["median_s"] / s_ours["median_s"]}


def part_b_markdown(cases: list[dict[str, Any]], args: argparse.Namespace,
                    targets: dict[int, float]) -> str:
    rows = []
    for case in cases:
        target = targets.get(case["num_nodes"])
        check = case["check"]
        rows.append([f"N {case['num_nodes']} {case['topology']}", case["num_edges"],
                     fmt_ms(case["graphens"]["median_s"]), fmt_ms(case["naive"]["median_s"]),
                     f"{case['speedup']:.2f}×",
                     f"≥ {target:g}×: {'met' if case['speedup'] >= target else 'MISSED'}"
                     if target else "",
                     f"{check['loss_rel_diff']:.1e} / {check['grad_rel_diff']:.1e}"])
    head = (f"Part B: graphens vs a naive ModuleList ensemble + per-edge loss loop "
            f"({args.naive_distance} distances), NAdam "
            f"{'foreach=True' if args.nadam_foreach else 'as graphens.train builds it'} on both "
            "sides, dropout on; medians, alternating repeats.")
    table = markdown_table(["case", "edges", "graphens ms", "naive ms", "speedup", "target",
                            "same loss / grads (rel. diff, dropout off)"], rows)
    return f"{head}\n\n{table}"


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("A", "B", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=10, help="N of part A (paper: 10)")
    parser.add_argument("--big-nodes", type=int, default=64, help="N of part B's ring case")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--naive-distance", choices=("expanded", "cdist"), default="expanded")
    parser.add_argument("--nadam-foreach", action="store_true",
                        help="part B: NAdam(foreach=True) on both sides")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to SECONDS for other CPU-heavy processes to end")
    parser.add_argument("--out", default=None, help="output root (default benchmarks/out)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    if args.wait_idle > 0:
        wait_until_idle(args.wait_idle)
    payload: dict[str, Any] = {"benchmark": "train_step", "args": vars(args),
                               "environment": environment(device)}
    sections = []
    with ContentionMonitor() as monitor:
        if args.part in ("A", "both"):
            res = part_a(args, device)
            payload["part_a"] = res
            frac = res["step"]["sliced"]["fraction_of_matmul"]
            sections.append(part_a_markdown(res) + f"\n\nTarget ≥ 50 % of dense matmul: "
                            f"{'met' if frac >= 0.5 else 'MISSED'} ({frac:.0%}).")
            print(sections[-1] + "\n", flush=True)
        if args.part in ("B", "both"):
            cases = [part_b_case(args.nodes, "all-to-all", args, device),
                     part_b_case(args.big_nodes, "ring", args, device)]
            payload["part_b"] = cases
            sections.append(part_b_markdown(cases, args,
                                            {args.nodes: 3.0, args.big_nodes: 10.0}))
            print(sections[-1] + "\n", flush=True)
    payload["contention"] = monitor.report()
    env = payload["environment"]
    settings = "".join(f", {k}={v}" for k, v in env["env"].items())
    footer = (f"torch {env['torch']}, {env['torch_threads']} threads, {env['cpu_count']} CPUs "
              f"({env['processor']}), device {env['device']}{settings}. "
              f"{contention_note(payload['contention'])}")
    markdown = "\n\n".join(sections) + "\n\n" + footer
    print(footer)
    folder = write_results("train_step", payload, markdown, args.out)
    print(f"wrote {folder}/results.json and results.md")
    return payload


if __name__ == "__main__":
    main()
