"""Command line: ``graphens train ...``.

Bad input ends with one line on stderr naming the problem and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Sequence
from typing import Any

from graphens.errors import GraphensError

# Defaults of the offline demo (`graphens train` with no arguments): digits, the paper's
# ensemble, few enough epochs to finish in about a minute on 2 cores.
DEMO_EPOCHS = 10

# Flags left unset take the paper's value, except where a dataset needs its own (see
# ``DATASET_DEFAULTS``). Digits are 8x8: d = 0.1 leaves 6 pixels per node, and the paper's
# tau = 10 puts the tiny initial embeddings (std ~0.01) in the flat part of the softmax,
# where gradients (~1e-9) sit below NAdam's eps and training only takes off after ~10 epochs.
PAPER_DEFAULTS = {"rf_fraction": 0.1, "tau": 10.0}
DATASET_DEFAULTS = {"digits": {"rf_fraction": 0.25, "tau": 0.05}}


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphens",
        description="Ensembles of cross-supervising neural networks laid out as a graph.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train", help="train and decode one ensemble",
        description="Train a CLoSeR ensemble (or a baseline) and decode its embeddings. With no "
                    "arguments: the offline demo on sklearn's digits.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--dataset", default="digits", help="digits, fashion-mnist")
    train.add_argument("--topology", default="all-to-all",
                       help="all-to-all, gnk, directed-ring, ring, star")
    train.add_argument("--topology-param", action="append", default=[], metavar="K=V",
                       help="topology parameter, repeatable (e.g. k=20, laterals=2)")
    train.add_argument("--nodes", type=int, default=10, help="number of nodes N")
    train.add_argument("--rf", default="gaussian",
                       help="receptive fields: random, gaussian, contiguous, patches")
    train.add_argument("--rf-fraction", type=float, default=None,
                       help="receptive-field fraction d in (0, 1] (paper 0.1; digits 0.25)")
    train.add_argument("--rf-param", action="append", default=[], metavar="K=V",
                       help="receptive-field parameter, repeatable (e.g. sigma=2, patch=4)")
    train.add_argument("--encoder", default="mlp", help="encoder family")
    train.add_argument("--hidden", default="1024,512,256", help="hidden widths of the MLP")
    train.add_argument("--dim", type=int, default=256, help="embedding size D")
    train.add_argument("--dropout", type=float, default=0.1)
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
    return parser


def dataset_default(args: argparse.Namespace, name: str) -> Any:
    """The flag's value if given, else the dataset's default, else the paper's."""
    value = getattr(args, name)
    if value is not None:
        return value
    return DATASET_DEFAULTS.get(args.dataset, {}).get(name, PAPER_DEFAULTS[name])


def run_train(args: argparse.Namespace) -> int:
    from graphens.experiment import RunConfig, run

    config = RunConfig(
        dataset=args.dataset, topology=args.topology,
        topology_params=parse_params(args.topology_param, "--topology-param"),
        nodes=args.nodes, rf=args.rf, rf_fraction=dataset_default(args, "rf_fraction"),
        rf_params=parse_params(args.rf_param, "--rf-param"), encoder=args.encoder,
        hidden=parse_hidden(args.hidden), dim=args.dim, dropout=args.dropout,
        tau=dataset_default(args, "tau"),
        distance=args.distance, stop_gradient=args.stop_gradient, baseline=args.baseline,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        augment=not args.no_augment, seed=args.seed, device=args.device)
    results = run(config, args.out, resume=args.resume, progress=not args.quiet)
    print(format_summary(results, args.out))
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return run_train(args)
    except GraphensError as err:
        print(f"graphens: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("graphens: interrupted; rerun with --resume to continue from the last epoch.",
              file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
