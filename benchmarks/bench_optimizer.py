"""Benchmark: one NAdam step over the node bank, per node slice (graphens) vs whole stacks (torch).

The paper's MLP (78 inputs, 1024-512-256 → 256) for N nodes, stacked as ``NodeBank`` holds it
(``[N, out, in]`` per parameter), with fixed random gradients. Timed: one ``step()`` of

* ``SlicedNAdam`` — what ``graphens.train`` uses: NAdam over per-node views;
* ``torch.optim.NAdam`` over the stacked tensors, default (per-tensor loop) and ``foreach=True``.

The three alternate within each repeat so drift hits them alike; medians over repeats, and the
ratio of each torch variant's median to SlicedNAdam's.

Usage::

    python benchmarks/bench_optimizer.py --repeats 20
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch
from _common import environment, markdown_table, time_calls, write_results

from graphens.encoders import mlp_encoder
from graphens.node_bank import NodeBank
from graphens.optim import SlicedNAdam

VARIANTS = {
    "SlicedNAdam (graphens.train)": lambda ps: SlicedNAdam(ps, lr=1e-3, eps=1e-7),
    "torch NAdam, stacked, default": lambda ps: torch.optim.NAdam(ps, lr=1e-3, eps=1e-7,
                                                                  foreach=False),
    "torch NAdam, stacked, foreach": lambda ps: torch.optim.NAdam(ps, lr=1e-3, eps=1e-7,
                                                                  foreach=True),
}


def measure(num_nodes: int, repeats: int) -> dict[str, list[float]]:
    generator = torch.Generator().manual_seed(0)
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    banks, optimizers = {}, {}
    for name, make in VARIANTS.items():  # one bank per variant: each keeps its own state
        bank = NodeBank(mlp_encoder(), num_nodes, 78, seed=0)
        for p in bank.parameters():
            p.grad = torch.randn(p.shape, generator=generator) * 1e-3
        banks[name], optimizers[name] = bank, make(list(bank.parameters()))
    for name in VARIANTS:  # warm-up: allocate the optimiser state
        time_calls(optimizers[name].step, 1, warmup=2)
    for _ in range(repeats):
        for name in VARIANTS:
            times[name] += time_calls(optimizers[name].step, 1, warmup=0)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[10, 64])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    rows, payload = [], {"environment": environment("cpu"), "cases": {}}
    for n in args.nodes:
        times = measure(n, args.repeats)
        ours = statistics.median(times["SlicedNAdam (graphens.train)"])
        payload["cases"][n] = times
        for name, seconds in times.items():
            median = statistics.median(seconds)
            rows.append([f"N {n}", name, f"{median * 1e3:.1f}",
                         f"{min(seconds) * 1e3:.1f}–{max(seconds) * 1e3:.1f}",
                         f"{median / ours:.2f}×"])
    table = markdown_table(["case", "optimiser", "median ms", "min–max ms",
                            "time / SlicedNAdam"], rows)
    text = (f"One NAdam step over the paper MLP's node bank, {args.repeats} alternating repeats."
            f"\n\n{table}\n\nCommand: `python benchmarks/bench_optimizer.py --repeats "
            f"{args.repeats}`")
    folder = write_results("optimizer", payload, text)
    print(text)
    print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
