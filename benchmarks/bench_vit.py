"""Benchmark: one ViT-lite training step, node bank against a per-node Python loop.

The paper's ViT-lite (method.md §4: linear patch tokeniser to D 256, class token, learned
positions, 2 pre-LayerNorm blocks of 4 heads with an MLP 512 → 256, GELU, dropout 0.1, output
the LayerNorm'ed class token) on Fashion-MNIST shapes: 28×28×1 images, 4×4 patches, d 0.1
(round(784·0.1/16) = 5 patches, 6 tokens with the class token), N 10 nodes all-to-all, batch
128, CLoSeR τ 10 (random pixels: speed does not depend on them). A step is forward, loss,
backward and the NAdam step. Three ways to run the same N modules with the same weights:

* ``bank (batched)`` — :class:`graphens.node_bank.NodeBank`'s direct ViT-lite path
  (``node_bank._vit_forward``: ``baddbmm`` per linear layer over the node dimension, one
  attention for all nodes) and ``SlicedNAdam``: what ``graphens train --encoder vit-lite``
  runs;
* ``bank (vmap)`` — the same bank with ``bank.direct = False``: ``vmap(functional_call)``
  over the stacked parameters with ``randomness="different"``, ``SlicedNAdam``;
* ``loop`` — N ordinary ``nn.Module``\\ s called one after another, ``torch.optim.NAdam``.

The three alternate within each repeat so drift in the machine's load hits them alike; each
repeat times ``--steps`` steps; medians over repeats. Writes ``benchmarks/results/vit_step.md``
(and ``.json``).

Usage::

    python benchmarks/bench_vit.py --repeats 7 --steps 3
    python benchmarks/bench_vit.py --repeats 7 --steps 20 --device cuda   # a GPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from _common import sync
from torch import Tensor

from graphens.config import RunConfig
from graphens.data import from_arrays
from graphens.ensemble import Ensemble
from graphens.loss import closer_loss
from graphens.modality import VisionModality
from graphens.optim import SlicedNAdam

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per arm")
    parser.add_argument("--steps", type=int, default=3, help="steps per timed round")
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "vit_step.md")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: this torch sees no CUDA device; use --device cpu")
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    data = from_arrays(torch.rand(args.batch_size, 28, 28, generator=generator), None,
                       torch.rand(8, 28, 28, generator=generator), None)
    config = RunConfig(dataset="fashion-mnist", encoder="vit-lite", rf="patches",
                       rf_fraction=0.1, rf_params={"patch": 4}, nodes=args.nodes)
    modality = VisionModality()
    graph = modality.graph(config, data)
    factory = modality.encoder_factory(config, graph)
    device = torch.device(args.device)
    ensemble = Ensemble(graph, factory, seed=0).to(device)
    x = data.x_train[:args.batch_size].to(device)
    nodes, width = graph.num_nodes, graph.rf_index.shape[1]
    edge_index, edge_weight = graph.edge_index.to(device), graph.edge_weight.to(device)

    # The same starting weights three times.
    vmap_ensemble = Ensemble(graph, factory, seed=0).to(device)
    vmap_ensemble.bank.direct = False
    modules = []
    for node in range(nodes):
        module = factory(width)
        module.load_state_dict(ensemble.bank.node_state_dict(node))
        modules.append(module.to(device))

    def forward(arm: str, training: bool) -> Tensor:
        if arm != "loop":
            chosen = ensemble if arm == "bank (batched)" else vmap_ensemble
            chosen.train(training)
            return chosen(x)
        views = ensemble.gather(x)
        for module in modules:
            module.train(training)
        return torch.stack([module(views[node]) for node, module in enumerate(modules)])

    arms = ("bank (batched)", "bank (vmap)", "loop")
    with torch.no_grad():
        reference = forward(arms[0], training=False)
        for arm in arms[1:]:
            torch.testing.assert_close(forward(arm, training=False), reference, rtol=1e-4,
                                       atol=1e-4)
    optimizers = {
        "bank (batched)": SlicedNAdam(list(ensemble.parameters()), lr=config.lr, eps=1e-7),
        "bank (vmap)": SlicedNAdam(list(vmap_ensemble.parameters()), lr=config.lr, eps=1e-7),
        "loop": torch.optim.NAdam([p for m in modules for p in m.parameters()], lr=config.lr,
                                  eps=1e-7),
    }

    def step(arm: str) -> None:
        z = forward(arm, training=True)
        loss = closer_loss(z, edge_index, edge_weight, tau=config.tau)
        optimizers[arm].zero_grad(set_to_none=True)
        loss.backward()
        optimizers[arm].step()

    seconds: dict[str, list[float]] = {arm: [] for arm in arms}
    for arm in arms:  # warm-up
        step(arm)
    sync(device)
    for _ in range(args.repeats):
        for arm in arms:
            tick = time.perf_counter()
            for _ in range(args.steps):
                step(arm)
            sync(device)
            seconds[arm].append((time.perf_counter() - tick) / args.steps)
    medians = {arm: statistics.median(values) for arm, values in seconds.items()}
    # Paired by round (the arms of one round ran back to back): robust to load drift.
    ratios = {arm: statistics.median(lp / a for lp, a in zip(seconds["loop"], seconds[arm],
                                                            strict=True)) for arm in arms}
    versus_vmap = statistics.median(v / b for v, b in zip(seconds["bank (vmap)"],
                                                           seconds["bank (batched)"],
                                                           strict=True))
    loop = medians["loop"]
    tokens = width // factory.token_width + 1
    device_name = (torch.cuda.get_device_name(device) if device.type == "cuda"
                   else f"CPU, {torch.get_num_threads()} threads")
    lines = [
        f"ViT-lite training step (forward, CLoSeR loss, backward, NAdam), N {nodes}, "
        f"B {args.batch_size}, 28×28×1, 4×4 patches, d 0.1 ({tokens - 1} patches + class "
        f"token), D {config.dim}, MLP {','.join(map(str, config.hidden))}, dropout "
        f"{config.dropout}; torch {torch.__version__}, {device_name}; "
        f"median of {args.repeats} rounds of {args.steps} steps, arms interleaved.",
        "",
        "| arm | median s/step | min | max | samples/s | loop / arm (medians) | "
        "loop / arm (median of per-round ratios) |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm in arms:
        lines.append(f"| {arm} | {medians[arm]:.3f} | {min(seconds[arm]):.3f} | "
                     f"{max(seconds[arm]):.3f} | {args.batch_size / medians[arm]:.0f} | "
                     f"{loop / medians[arm]:.2f}× | {ratios[arm]:.2f}× |")
    lines += ["", f"vmap / batched, median of per-round ratios: {versus_vmap:.2f}×"]
    command = "python benchmarks/bench_vit.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out")
    lines += ["", f"Command: `{command}`"]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(
        {"seconds": seconds, "median_s": medians, "loop_over_arm": ratios,
         "vmap_over_batched": versus_vmap, "args": {k: str(v) for k, v in
                                                           vars(args).items()}}, indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
