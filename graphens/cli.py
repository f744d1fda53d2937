"""Command line: ``graphens train ...`` and ``graphens topology list|show ...``.

Bad input ends with one line on stderr naming the problem and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Sequence
from typing import Any

from graphens.errors import GraphensError
from graphens.sweep.cli import add_parsers as add_sweep_parsers
from graphens.topology import graph_decides_nodes
from graphens.topology.weights import NORMALIZATIONS

# Defaults of the offline demo (`graphens train` with no arguments): digits, the paper's
# ensemble, few enough epochs to finish in about a minute on 2 cores.
DEMO_EPOCHS = 10
DEFAULT_TOPOLOGY = "all-to-all"
DEFAULT_NODES = 10
# `graphens topology show` draws the node positions of the families wired on receptive-field
# centres (distance, knn) from Gaussian fields on an image of this size, as training would.
DEFAULT_IMAGE = "28x28"

# Flags left unset take the paper's value, except where a dataset needs its own (see
# ``DATASET_DEFAULTS``). Digits are 8x8: d = 0.1 leaves 6 pixels per node, and the paper's
# tau = 10 puts the tiny initial embeddings (std ~0.01) in the flat part of the softmax,
# where gradients (~1e-9) sit below NAdam's eps and training only takes off after ~10 epochs.
PAPER_DEFAULTS = {"rf_fraction": 0.1, "tau": 10.0}
DATASET_DEFAULTS = {"digits": {"rf_fraction": 0.25, "tau": 0.05}}
# Defaults of the flags whose paper value depends on the modality (method.md §4, §7).
MODALITY_DEFAULTS = {
    "vision": {"dataset": "digits", "hidden": "1024,512,256", "dim": 256, "dropout": 0.1},
    "neural": {"dataset": "synthetic", "hidden": "32,32", "dim": 32, "dropout": 0.0},
}


def parse_value(text: str) -> Any:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, ``"true"`` -> True, anything else stays a string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_params(pairs: Sequence[str], flag: str) -> dict[str, Any]:
    """``["k=20", "p=0.1"]`` -> ``{"k": 20, "p": 0.1}``."""
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise GraphensError(f"{flag} {pair!r} is not of the form key=value (e.g. {flag} k=20).")
        params[key.strip().replace("-", "_")] = parse_value(value.strip())
    return params


def parse_hidden(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise GraphensError(
            f"--hidden {text!r} must be comma-separated integers, e.g. 1024,512,256.") from None
    return widths


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except ``None`` ones (their help says what happens)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphens",
        description="Ensembles of cross-supervising neural networks laid out as a graph.")
    commands = parser.add_subparsers(dest="command", required=True)
    add_train_parser(commands)
    add_topology_parser(commands)
    add_sweep_parsers(commands)
    return parser


def add_train_parser(commands: Any) -> None:
    train = commands.add_parser(
        "train", help="train and decode one ensemble",
        description="Train a CLoSeR ensemble (or a baseline) and decode its embeddings. With no "
                    "arguments: the offline demo on sklearn's digits.",
        formatter_class=_HelpFormatter)
    train.add_argument("--modality", choices=sorted(MODALITY_DEFAULTS), default="vision",
                       help="vision: images; neural: population recordings, one node per "
                            "brain area, temporal objectives (see docs/neural.md)")
    train.add_argument("--dataset", default=None,
                       help="vision: digits (default), fashion-mnist; neural: synthetic "
                            "(default), nwb:PATH, allen:SESSION")
    train.add_argument("--dataset-param", action="append", default=[], metavar="K=V",
                       help="neural: recording parameter, repeatable (e.g. areas=8, noise=0.5, "
                            "bin_size=0.033)")
    train.add_argument("--objective", default="temporal-closer",
                       choices=["temporal-closer", "lpl", "temporal-contrastive"],
                       help="neural: the training objective")
    train.add_argument("--bins", type=int, default=2,
                       help="neural: time bins per window T (paper 2)")
    train.add_argument("--topology", default=None,
                       help=f"a family (see `graphens topology list`) or connectome:NAME "
                            f"(default {DEFAULT_TOPOLOGY})")
    train.add_argument("--topology-param", action="append", default=[], metavar="K=V",
                       help="topology parameter, repeatable (e.g. k=20, laterals=2)")
    train.add_argument("--topology-file", default=None, metavar="PATH",
                       help="read the topology from a file: edge-list CSV, GraphML/GEXF, "
                            ".npy/.csv adjacency (topology 'file' with path=PATH)")
    train.add_argument("--map", default=None, metavar="SPEC",
                       help="how a connectome or file graph maps onto the ensemble's nodes, "
                            "e.g. all, degree:20, random:20, names:AVAL,AVAR")
    train.add_argument("--normalize", choices=NORMALIZATIONS, default=None,
                       help="weight normalisation (default: the paper's weights for its "
                            "families, sum for the others)")
    train.add_argument("--nodes", type=int, default=None,
                       help=f"number of nodes N (default {DEFAULT_NODES}; connectome:NAME and "
                            "--topology-file: the graph's own)")
    train.add_argument("--rf", default="gaussian",
                       help="receptive fields: random, gaussian, contiguous, patches")
    train.add_argument("--rf-fraction", type=float, default=None,
                       help="receptive-field fraction d in (0, 1] (paper 0.1; digits 0.25)")
    train.add_argument("--rf-param", action="append", default=[], metavar="K=V",
                       help="receptive-field parameter, repeatable (e.g. sigma=2, patch=4)")
    train.add_argument("--encoder", default="mlp", help="encoder family")
    train.add_argument("--hidden", default=None,
                       help="hidden widths of the MLP (vision 1024,512,256; neural, per bin, "
                            "32,32)")
    train.add_argument("--dim", type=int, default=None,
                       help="embedding size D (vision 256; neural 32)")
    train.add_argument("--dropout", type=float, default=None, help="(vision 0.1; neural 0)")
    train.add_argument("--tau", type=float, default=None,
                       help="softmax temperature (paper 10; digits 0.05)")
    train.add_argument("--distance", choices=["mean", "sum"], default="mean")
    train.add_argument("--stop-gradient", choices=["none", "teacher", "student"],
                       default="none")
    train.add_argument("--baseline", choices=["closer", "untrained", "supervised", "raw-input"],
                       default="closer")
    train.add_argument("--epochs", type=int, default=DEMO_EPOCHS)
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--no-augment", action="store_true", help="disable augmentation")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    train.add_argument("--out", default="runs/demo", help="output directory")
    train.add_argument("--resume", action="store_true",
                       help="continue an interrupted run in --out")
    train.add_argument("--quiet", action="store_true", help="no progress bar")


def add_topology_parser(commands: Any) -> None:
    topology = commands.add_parser(
        "topology", help="list topologies, or build one and print its metrics",
        description="Inspect the topologies an ensemble can be wired with.")
    actions = topology.add_subparsers(dest="action", required=True)
    actions.add_parser(
        "list", help="every family with its parameters, and the connectomes",
        description="Every topology family with its parameters and defaults, and the "
                    "connectomes available.")
    show = actions.add_parser(
        "show", help="build a topology and print its graph metrics",
        description="Build a topology as `graphens train` would and print its graph metrics "
                    "(see graphens.topology.metrics), optionally drawing it.",
        formatter_class=_HelpFormatter)
    show.add_argument("family", help="a family (see `graphens topology list`), "
                                     "connectome:NAME, or file (with path=PATH)")
    show.add_argument("params", nargs="*", metavar="K=V",
                      help="topology parameters (e.g. k=20 laterals=2 normalize=sum map=all)")
    show.add_argument("--nodes", type=int, default=None,
                      help=f"number of nodes N (default {DEFAULT_NODES}; connectome:NAME and "
                           "file: the graph's own)")
    show.add_argument("--seed", type=int, default=0)
    show.add_argument("--image", default=DEFAULT_IMAGE, metavar="HxW",
                      help="image on which families wired on receptive-field centres (e.g. "
                           "distance, knn) get their node positions (Gaussian fields' centres)")
    show.add_argument("--plot", default=None, metavar="FILE.png",
                      help="draw the graph and its adjacency matrix into this PNG")
    show.add_argument("--json", action="store_true",
                      help="print the metrics as JSON (only JSON on stdout)")


def dataset_default(args: argparse.Namespace, name: str) -> Any:
    """The flag's value if given, else the dataset's default, else the paper's."""
    value = getattr(args, name)
    if value is not None:
        return value
    return DATASET_DEFAULTS.get(args.dataset, {}).get(name, PAPER_DEFAULTS[name])


def train_topology(args: argparse.Namespace) -> tuple[str, dict[str, Any], int | None]:
    """The topology name, its parameters and N from the train flags."""
    topology = args.topology or DEFAULT_TOPOLOGY
    params = parse_params(args.topology_param, "--topology-param")
    if args.topology_file is not None:
        if args.topology not in (None, "file"):
            raise GraphensError(
                f"--topology {args.topology!r} and --topology-file {args.topology_file!r} "
                "both name a topology; give only one of them.")
        if "path" in params:
            raise GraphensError(
                f"--topology-file {args.topology_file!r} and --topology-param "
                f"path={params['path']!r} both give the file; give it once.")
        topology, params["path"] = "file", args.topology_file
    if args.map is not None:
        if not graph_decides_nodes(topology):
            raise GraphensError(
                f"--map {args.map!r} maps a connectome or a file onto the nodes; topology "
                f"{topology!r} is a family (use --topology connectome:NAME or "
                "--topology-file PATH, or drop --map).")
        params["map"] = args.map
    if args.normalize is not None:
        params["normalize"] = args.normalize
    nodes = args.nodes
    if nodes is None and not graph_decides_nodes(topology):
        nodes = DEFAULT_NODES
    return topology, params, nodes


def modality_defaults(args: argparse.Namespace) -> None:
    """Fill the flags left unset with the modality's defaults (``MODALITY_DEFAULTS``)."""
    for name, value in MODALITY_DEFAULTS[args.modality].items():
        if getattr(args, name) is None:
            setattr(args, name, value)


def run_train(args: argparse.Namespace) -> int:
    from graphens.experiment import RunConfig, run

    modality_defaults(args)
    if args.modality == "neural":
        return run_neural_train(args)
    if args.dataset_param:
        raise GraphensError(
            f"--dataset-param {args.dataset_param[0]!r} is for --modality neural; vision "
            "datasets take no parameters.")
    topology, topology_params, nodes = train_topology(args)
    config = RunConfig(
        dataset=args.dataset, topology=topology, topology_params=topology_params,
        nodes=nodes, rf=args.rf, rf_fraction=dataset_default(args, "rf_fraction"),
        rf_params=parse_params(args.rf_param, "--rf-param"), encoder=args.encoder,
        hidden=parse_hidden(args.hidden), dim=args.dim, dropout=args.dropout,
        tau=dataset_default(args, "tau"),
        distance=args.distance, stop_gradient=args.stop_gradient, baseline=args.baseline,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        augment=not args.no_augment, seed=args.seed, device=args.device)
    results = run(config, args.out, resume=args.resume, progress=not args.quiet)
    print(format_summary(results, args.out))
    return 0


def run_neural_train(args: argparse.Namespace) -> int:
    """``graphens train --modality neural``: one node per brain area, temporal objective."""
    from graphens.neural.experiment import NeuralRunConfig, format_neural_summary, run_neural

    topology = args.topology or DEFAULT_TOPOLOGY
    params = parse_params(args.topology_param, "--topology-param")
    if args.topology_file is not None or args.map is not None:
        raise GraphensError(
            "--topology-file and --map map a graph of its own nodes; with --modality neural "
            "the nodes are the recorded areas: choose a family (--topology NAME).")
    if args.normalize is not None:
        params["normalize"] = args.normalize
    config = NeuralRunConfig(
        dataset=args.dataset, dataset_params=parse_params(args.dataset_param, "--dataset-param"),
        nodes=args.nodes, bins=args.bins, topology=topology, topology_params=params,
        objective=args.objective, baseline=args.baseline, hidden=parse_hidden(args.hidden),
        dim=args.dim, dropout=args.dropout, tau=args.tau if args.tau is not None else 10.0,
        distance=args.distance, stop_gradient=args.stop_gradient, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device)
    results = run_neural(config, args.out, resume=args.resume, progress=not args.quiet)
    print(format_neural_summary(results, args.out))
    return 0


def format_summary(results: dict[str, Any], out: str) -> str:
    """The short table printed after a run."""
    config = results["config"]
    knn = results.get("knn_accuracy", {})
    rows = [
        ("dataset", config["dataset"]),
        ("topology", f"{config['topology']} ({results['num_nodes']} nodes, "
                     f"{results['num_edges']} edges)"),
        ("objective", config["baseline"]),
        ("epochs", results["epochs_run"]),
        ("single-node accuracy", f"{results['single_accuracy']:.4f}"),
        ("ensemble accuracy", f"{results['ensemble_accuracy']:.4f}"),
        ("kNN single / ensemble", f"{knn.get('single', float('nan')):.4f} / "
                                  f"{knn.get('ensemble', float('nan')):.4f}"),
        ("agreement (chance)", f"{results['agreement']['mean']:.3f} "
                               f"({results.get('agreement_chance', float('nan')):.3f})"),
        ("train time", f"{results['train_seconds']:.1f} s "
                       f"({results['samples_per_second']:.0f} samples/s)"),
        ("results", f"{out}/results.json"),
    ]
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows)


def run_topology_list(args: argparse.Namespace) -> int:
    print(format_topology_list())
    return 0


def format_topology_list() -> str:
    """Every family with its parameters and defaults, then the connectomes and files."""
    from graphens.topology import (
        TOPOLOGIES,
        default_normalization,
        topology_params,
        uses_positions,
    )

    names = sorted(TOPOLOGIES)
    width = max(len(name) for name in names)
    lines = ["Families (graphens train --topology NAME --topology-param K=V; "
             "graphens topology show NAME K=V ...):"]
    for name in names:
        params = " ".join(f"{key}={_format_default(value)}"
                          for key, value in topology_params(name).items())
        notes = [f"normalize={default_normalization(name)}"]
        if uses_positions(name):
            notes.append("wired on receptive-field centres")
        lines.append(f"  {name:<{width}}  {params or '(no parameters)'}  "
                     f"[{'; '.join(notes)}]")
    lines += ["  (None: derived from N.) Every family also takes normalize="
              f"{'|'.join(NORMALIZATIONS)}; [brackets]: its default.",
              "",
              "Connectomes (graphens train --topology connectome:NAME --map SPEC):"]
    lines += [f"  {line}" for line in _connectome_lines()]
    lines += ["",
              "Files (graphens train --topology-file PATH --map SPEC; "
              "graphens topology show file path=PATH):",
              "  edge-list CSV (source = teacher, target = student[, weight]), GraphML/GEXF, "
              ".npy/.csv adjacency"]
    return "\n".join(lines)


def _format_default(value: Any) -> str:
    import inspect
    return "<required>" if value is inspect.Parameter.empty else repr(value)


def _connectome_lines() -> list[str]:
    try:
        from graphens.topology.connectome import list_connectomes
    except ImportError:
        return ["(none: graphens.topology.connectome is not available)"]
    listed = list_connectomes()
    if isinstance(listed, dict):
        entries = [(str(name), str(about)) for name, about in listed.items()]
    else:
        entries = [(str(name), "") for name in listed]
    if not entries:
        return ["(none)"]
    width = max(len(f"connectome:{name}") for name, _ in entries)
    return [f"{f'connectome:{name}':<{width}}  {about}".rstrip() for name, about in entries]


def run_topology_show(args: argparse.Namespace) -> int:
    from graphens.topology.metrics import metrics

    graph = build_shown_topology(args)
    result = metrics(graph, seed=args.seed)
    if args.plot is not None:
        from graphens.topology.plot import plot_topology
        plot_topology(graph, args.plot)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    record = dict(getattr(graph, "topology", None) or {})
    print(f"{args.family}: {result['nodes']} nodes, {result['edges']} edges "
          f"(seed {args.seed}, normalize {record.get('normalize', '-')})")
    print(format_metrics(result))
    if args.plot is not None:
        print(f"plot: {args.plot}")
    return 0


def build_shown_topology(args: argparse.Namespace) -> Any:
    """The topology of ``graphens topology show``, with ``pos`` for the spatial families."""
    from graphens.topology import make_topology, uses_positions

    params = parse_params(args.params, "topology show")
    nodes = args.nodes
    if nodes is None and not graph_decides_nodes(args.family):
        nodes = DEFAULT_NODES
    if not graph_decides_nodes(args.family) and uses_positions(args.family):
        pos = receptive_field_centres(nodes, args.image, args.seed)
        graph = make_topology(args.family, nodes, seed=args.seed, pos=pos, **params)
        if getattr(graph, "pos", None) is None:
            graph.pos = pos
        return graph
    return make_topology(args.family, nodes, seed=args.seed, **params)


def receptive_field_centres(nodes: int, image: str, seed: int) -> Any:
    """``[N, 2]`` (row, col) centres of seeded Gaussian receptive fields on an HxW image."""
    from graphens.receptive_fields import sample_receptive_fields

    height, sep, width = image.lower().partition("x")
    try:
        shape = (int(height), int(width), 1)
    except ValueError:
        shape = None
    if not sep or shape is None or min(shape) < 1:
        raise GraphensError(f"--image {image!r} must be HxW with positive integers, e.g. 28x28.")
    fields = sample_receptive_fields("gaussian", nodes, shape[0] * shape[1], fraction=0.1,
                                     image_shape=shape, seed=seed)
    return fields.centers


def format_metrics(result: dict[str, Any]) -> str:
    """One ``key  value`` line per metric; None is ``-``."""
    width = max(len(key) for key in result)
    return "\n".join(f"{key:<{width}}  {_format_value(value)}" for key, value in result.items())


def _format_value(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "handler", None) is not None:  # sweep, report
            return args.handler(args)
        if args.command == "train":
            return run_train(args)
        if args.command == "topology":
            return run_topology_list(args) if args.action == "list" else run_topology_show(args)
    except GraphensError as err:
        print(f"graphens: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("graphens: interrupted; rerun with --resume to continue from the last epoch "
              "(a sweep: rerun the same command).", file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
