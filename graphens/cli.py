"""Command line: ``graphens train``, ``measure``, ``topology list|show``, ``sweep``, ``report``.

The CLI only parses: defaults and checks belong to :class:`graphens.config.RunConfig`. Bad input
ends with one line on stderr naming the problem and exit code 2, never a traceback; warnings
are one line each, ``graphens: warning: ...``; every ``--help`` shows the defaults and no flag
may be abbreviated.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graphens.errors import GraphensError, GraphensWarning
from graphens.sweep.cli import add_parsers as add_sweep_parsers
from graphens.topology import graph_decides_nodes
from graphens.topology.weights import NORMALIZATIONS

#: ``graphens topology show`` draws the node positions of the families wired on receptive-field
#: centres (distance, knn) from Gaussian fields on an image of this size, as training would.
DEFAULT_IMAGE = "28x28"
SHOW_NODES = 10
#: Said in --help for flags whose default comes from the dataset or the modality.
RECOMMENDED = "default: the dataset's recommended value"


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


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every default: the value, or for ``None`` what the help says it means."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is argparse.SUPPRESS or (
                isinstance(action.default, bool) or action.default == []):
            return action.help
        return super()._get_help_string(action)


def subparser(commands: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A sub-command parser with graphens' habits: every default shown, no abbreviations."""
    return commands.add_parser(name, formatter_class=HelpFormatter, allow_abbrev=False,
                               **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphens", allow_abbrev=False,
        description="Ensembles of cross-supervising neural networks laid out as a graph.")
    commands = parser.add_subparsers(dest="command", required=True)
    add_train_parser(commands)
    add_topology_parser(commands)
    add_sweep_parsers(commands, subparser)
    add_measure_parser(commands)
    return parser


def add_train_parser(commands: Any) -> None:
    from graphens.config import BASELINES, ENCODER_DEFAULTS, MODALITY_DEFAULTS, NEURAL_OBJECTIVES
    from graphens.datasets import DATASETS
    from graphens.plasticity import PLASTICITY_RULES

    vision, neural = MODALITY_DEFAULTS["vision"], MODALITY_DEFAULTS["neural"]
    digits = DATASETS["digits"].defaults  # the demo's, named in the help beside the modality's
    recommended = "; ".join(
        f"{name}: " + ", ".join(f"{key}={value}" for key, value in entry.defaults.items())
        for name, entry in DATASETS.items() if entry.defaults)
    train = subparser(
        commands, "train", help="train and decode one ensemble",
        description="Train a CLoSeR ensemble (or a baseline) and decode its embeddings. With no "
                    "arguments: the offline demo on sklearn's digits. Flags left unset take the "
                    "dataset's recommended value, else the modality's (the paper's). "
                    f"Recommended per dataset: {recommended}.")
    train.add_argument("--modality", choices=sorted(MODALITY_DEFAULTS), default=None,
                       help="vision: images; neural: population recordings, one node per brain "
                            "area (see docs/neural.md) (default: the dataset's)")
    train.add_argument("--dataset", default=None,
                       help="one of " + ", ".join(e.usage for e in DATASETS.values())
                            + f" (default: {vision['dataset']}; neural: {neural['dataset']})")
    train.add_argument("--dataset-param", action="append", default=[], metavar="K=V",
                       help="loader parameter, repeatable (e.g. areas=8, noise=0.5, "
                            "bin_size=0.033) (default: the dataset's recommended)")
    train.add_argument("--objective", default=None,
                       choices=["closer", *NEURAL_OBJECTIVES],
                       help="what is minimised (default: closer; neural: temporal-closer)")
    train.add_argument("--bins", type=int, default=None,
                       help=f"neural: time bins per window T (default {neural['bins']})")
    train.add_argument("--topology", default=None,
                       help="a family (see `graphens topology list`) or connectome:NAME "
                            "(default: all-to-all)")
    train.add_argument("--topology-param", action="append", default=[], metavar="K=V",
                       help="topology parameter, repeatable (e.g. k=20, laterals=2) (default: the "
                            "family's own)")
    train.add_argument("--topology-file", default=None, metavar="PATH",
                       help="read the topology from a file: edge-list CSV, GraphML/GEXF, "
                            ".npy/.csv adjacency (topology 'file' with path=PATH) (default: none)")
    train.add_argument("--map", default=None, metavar="SPEC",
                       help="how a connectome or file graph maps onto the ensemble's nodes, "
                            "e.g. all, degree:20, random:20, names:AVAL,AVAR (default: all)")
    train.add_argument("--normalize", choices=NORMALIZATIONS, default=None,
                       help="weight normalisation (default: the paper's weights for its "
                            "families, sum for the others)")
    train.add_argument("--nodes", type=int, default=None,
                       help=f"number of nodes N (default {vision['nodes']}; connectome:NAME and "
                            "--topology-file: the graph's own; neural: every recorded area)")
    train.add_argument("--rf", default=None,
                       help="receptive fields: random, gaussian, contiguous, patches, groups "
                            f"(default {vision['rf']})")
    train.add_argument("--rf-fraction", type=float, default=None,
                       help=f"receptive-field fraction d in (0, 1] ({RECOMMENDED}, digits "
                            f"{digits['rf_fraction']}; else {vision['rf_fraction']})")
    train.add_argument("--rf-param", action="append", default=[], metavar="K=V",
                       help="receptive-field parameter, repeatable (e.g. sigma=2, patch=4: the "
                            "patch side of patches/contiguous, which vit-lite tokenises) "
                            "(default: the kind's own)")
    train.add_argument("--encoder", default=None,
                       help="mlp, or vit-lite: per node a linear patch tokeniser to --dim with "
                            "a class token and learned positions, 2 pre-LayerNorm blocks of 4 "
                            "heads (fixed; other sizes: graphens.encoders.vit_lite_encoder), "
                            "output the LayerNorm'ed class token; needs --rf patches or "
                            "contiguous (default: mlp; neural: time-distributed-mlp)")
    train.add_argument("--hidden", default=None,
                       help="hidden widths of the MLP (default "
                            f"{','.join(map(str, vision['hidden']))}; vit-lite: its block MLP, "
                            f"default {','.join(map(str, ENCODER_DEFAULTS['vit-lite']['hidden']))}"
                            f", ending at --dim; neural, per bin, "
                            f"{','.join(map(str, neural['hidden']))})")
    train.add_argument("--dim", type=int, default=None,
                       help=f"embedding size D (default {vision['dim']}; neural {neural['dim']})")
    train.add_argument("--dropout", type=float, default=None,
                       help=f"dropout after each hidden layer (vit-lite: also on the attention "
                            f"weights) (default {vision['dropout']}; neural {neural['dropout']})")
    train.add_argument("--tau", type=float, default=None,
                       help=f"softmax temperature ({RECOMMENDED}, digits {digits['tau']}; else "
                            f"{vision['tau']}; vit-lite {ENCODER_DEFAULTS['vit-lite']['tau']} "
                            "on every dataset)")
    train.add_argument("--distance", choices=["mean", "sum"], default="mean",
                       help="mean or summed squared distance")
    train.add_argument("--stop-gradient", choices=["none", "teacher", "student"],
                       default="none", help="which side of each edge gets no gradient")
    train.add_argument("--baseline", choices=BASELINES, default="closer",
                       help="closer trains; the others keep the same masks and initialisation")
    train.add_argument("--epochs", type=int, default=None,
                       help=f"training epochs ({RECOMMENDED}: digits {digits['epochs']}, synthetic "
                            f"{DATASETS['synthetic'].defaults['epochs']}; else "
                            f"{vision['epochs']})")
    train.add_argument("--batch-size", type=int, default=128, help="batch size B")
    train.add_argument("--lr", type=float, default=1e-3, help="NAdam learning rate")
    train.add_argument("--no-augment", action="store_true",
                       help="vision: no flip/rotation/zoom (default: augment)")
    train.add_argument("--seed", type=int, default=0, help="seed of everything random")
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    train.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                       help="bf16: forward pass under bfloat16 autocast (CUDA, or a CPU with "
                            "AVX512-BF16/AMX); loss, weights and optimiser stay fp32")
    train.add_argument("--plasticity", choices=sorted(PLASTICITY_RULES), default=None,
                       help="a rule that rewires or reweights the graph while it trains (see "
                            "docs/plastic_topologies.md) (default: a static graph)")
    train.add_argument("--plasticity-param", action="append", default=[], metavar="K=V[,K=V]",
                       help="plasticity parameter(s), repeatable or comma-separated (e.g. "
                            "fraction=0.2,every=1,unit=epoch) (default: the rule's own)")
    train.add_argument("--out", default="runs/demo", help="output directory")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its checkpoint (--epochs may grow)")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the run files in --out even if they hold another run")
    train.add_argument("--quiet", action="store_true", help="no progress bars")


def add_topology_parser(commands: Any) -> None:
    topology = subparser(
        commands, "topology", help="list topologies, or build one and print its metrics",
        description="Inspect the topologies an ensemble can be wired with.")
    actions = topology.add_subparsers(dest="action", required=True)
    subparser(
        actions, "list", help="every family with its parameters, and the connectomes",
        description="Every topology family with its parameters and defaults, and the "
                    "connectomes available.")
    show = subparser(
        actions, "show", help="build a topology and print its graph metrics",
        description="Build a topology as `graphens train` would and print its graph metrics "
                    "(see graphens.topology.metrics), optionally drawing it.")
    show.add_argument("family", help="a family (see `graphens topology list`), "
                                     "connectome:NAME, or file (with path=PATH)")
    show.add_argument("params", nargs="*", metavar="K=V",
                      help="topology parameters (e.g. k=20 laterals=2 normalize=sum map=all)")
    show.add_argument("--nodes", type=int, default=None,
                      help=f"number of nodes N (default {SHOW_NODES}; connectome:NAME and "
                           "file: the graph's own)")
    show.add_argument("--seed", type=int, default=0, help="seed of random families")
    show.add_argument("--image", default=DEFAULT_IMAGE, metavar="HxW",
                      help="image on which families wired on receptive-field centres (e.g. "
                           "distance, knn) get their node positions (Gaussian fields' centres)")
    show.add_argument("--plot", default=None, metavar="FILE.png",
                      help="draw the graph and its adjacency matrix into this PNG (default: "
                           "no drawing)")
    show.add_argument("--json", action="store_true",
                      help="print the metrics as JSON (only JSON on stdout)")


def add_measure_parser(commands: Any) -> None:
    measure = subparser(
        commands, "measure", help="cross-encoder measures of a trained run, every pair of nodes",
        description="Linear CKA, RSA alignment and agreement between every pair of nodes, and "
                    "each node's class-conditional pseudo-likelihood, on the run's test "
                    "stimuli; writes RUN_DIR/measures.json and heatmaps (edges outlined).")
    measure.add_argument("run_dir", metavar="RUN_DIR",
                         help="the --out directory of a finished `graphens train`")
    measure.add_argument("--max-samples", type=int, default=2000,
                         help="measure on at most this many test stimuli (a seeded subset)")
    measure.add_argument("--seed", type=int, default=0, help="seed of the test subset")
    measure.add_argument("--tau", type=float, default=None,
                         help="temperature of the pseudo-likelihood (default: the run's tau)")


def run_measure(args: argparse.Namespace) -> int:
    from graphens.measures import measure_run

    result = measure_run(args.run_dir, max_samples=args.max_samples, seed=args.seed,
                         tau=args.tau)
    print(f"{args.run_dir}: {result['num_nodes']} nodes, {len(result['edges'])} edges, "
          f"{result['samples']} test stimuli")
    print(f"{'mean over pairs':<16}  {'edges':>8}  {'non-edges':>9}")
    for key, label in (("cka", "CKA"), ("alignment", "alignment"), ("agreement", "agreement")):
        summary = result["summary"][key]
        print(f"{label:<16}  {_format_value(summary['edges']):>8}  "
              f"{_format_value(summary['non_edges']):>9}")
    print(f"agreement chance  {result['agreement_chance']:.4g}")
    likelihood = result["summary"]["class_likelihood"]
    if likelihood is not None:
        print(f"class likelihood diagonal (tau {result['tau']:g})  "
              f"{_format_value(likelihood['diagonal'])}")
    print("wrote: " + ", ".join(str(Path(args.run_dir) / name) for name in result["files"]))
    return 0


def train_topology(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The topology name and its parameters from the train flags."""
    topology = args.topology or "all-to-all"
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
    return topology, params


def train_config(args: argparse.Namespace) -> Any:
    """The :class:`~graphens.config.RunConfig` of ``graphens train``: the CLI only parses;
    every default and check is the config's."""
    from graphens.config import RunConfig

    topology, topology_params = train_topology(args)
    return RunConfig(
        modality=args.modality, dataset=args.dataset,
        dataset_params=parse_params(args.dataset_param, "--dataset-param"),
        topology=topology, topology_params=topology_params, nodes=args.nodes,
        rf=args.rf, rf_fraction=args.rf_fraction,
        rf_params=parse_params(args.rf_param, "--rf-param"), encoder=args.encoder,
        hidden=parse_hidden(args.hidden) if args.hidden is not None else None, dim=args.dim,
        dropout=args.dropout, objective=args.objective, tau=args.tau, distance=args.distance,
        stop_gradient=args.stop_gradient, baseline=args.baseline, bins=args.bins,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        augment=False if args.no_augment else None, seed=args.seed, device=args.device,
        precision=args.precision, plasticity=args.plasticity,
        plasticity_params=parse_params(
            [pair for text in args.plasticity_param for pair in text.split(",") if pair],
            "--plasticity-param"))


def run_train(args: argparse.Namespace) -> int:
    from graphens.experiment import format_summary, run

    config = train_config(args)
    results = run(config, args.out, resume=args.resume, overwrite=args.overwrite,
                  progress=not args.quiet)
    print(format_summary(results, args.out))
    return 0


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
    from graphens.topology.connectome import list_connectomes

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
    from graphens.io import check_writable_file
    from graphens.topology.metrics import metrics

    if args.plot is not None:
        check_writable_file(args.plot, "--plot")
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
        nodes = SHOW_NODES
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


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
    """Print graphens' warnings as one line, ``graphens: warning: ...``; others as Python does."""
    if issubclass(category, GraphensWarning):
        text = " ".join(str(message).split())
        print(f"graphens: warning: {text}", file=file or sys.stderr)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.showwarning = show_warning
    warnings.simplefilter("always", GraphensWarning)
    try:
        if getattr(args, "handler", None) is not None:  # sweep, report
            return args.handler(args)
        if args.command == "train":
            return run_train(args)
        if args.command == "topology":
            return run_topology_list(args) if args.action == "list" else run_topology_show(args)
        if args.command == "measure":
            return run_measure(args)
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
