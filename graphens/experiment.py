"""One run end to end, for every modality: checks, data, graph, training, decoding, results.

:func:`run` is what ``graphens train`` calls and what sweeps call once per trial. In order:

1. everything knowable without data is checked (the config on creation; here the output
   directory, the device): a bad value fails in one line before anything is loaded;
2. the data are loaded and checked (labels, classes, sizes) and the memory a step needs is
   estimated against the machine's, before the encoders are allocated;
3. the ensemble trains (:func:`graphens.train.train`), then is decoded
   (:func:`graphens.evaluate.decode`, with a progress bar);
4. warnings about training that did not work (:mod:`graphens.diagnostics`) go to stderr and
   into the results.

It writes into ``out_dir`` (atomically): ``run.json`` (the configuration, first),
``checkpoint.pt`` (every epoch, for ``resume``), ``ensemble.pt`` (the graph and the weights)
and ``results.json`` (configuration, accuracies, agreement, compute, graph metrics, warnings).
A directory holding another run is refused unless ``overwrite`` (:mod:`graphens.run_dir`).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from graphens.config import RunConfig
from graphens.diagnostics import tau_warning, training_warnings
from graphens.ensemble import Ensemble
from graphens.errors import GraphensError, collect_warnings, warn
from graphens.evaluate import agreement_scores, alignment_scores, decode
from graphens.graph import on_host
from graphens.io import atomic_torch_save, atomic_write_json
from graphens.modality import Modality, estimate_training_bytes, get_modality
from graphens.plasticity import make_rule, plasticity_results
from graphens.run_dir import (
    CHECKPOINT_FILE,
    ENSEMBLE_FILE,
    RESULTS_FILE,
    check_run_dir,
    claim_run_dir,
    record_config,
)
from graphens.topology import metrics
from graphens.topology.metrics import distance_correlation
from graphens.train import TrainConfig, TrainResult, check_bf16, resolve_device, train

#: Probe decoding needs this many labelled training rows (a 10 % validation split of >= 1).
MIN_DECODE_SAMPLES = 10
#: Refuse runs whose estimated memory exceeds this share of what the device has free.
MEMORY_SHARE = 0.9

__all__ = ["RunConfig", "format_summary", "load_ensemble", "run"]


def run(config: RunConfig, out_dir: str | Path | None = None, *, resume: bool = False,
        overwrite: bool = False, progress: bool = True, dataset: Any = None) -> dict[str, Any]:
    """Train and decode one ensemble; return (and write) its results.

    Parameters
    ----------
    config : RunConfig
        The run (vision or neural: ``config.modality``).
    out_dir : path, optional
        Where the run's files go; nothing is written when omitted.
    resume : bool
        Continue the run in ``out_dir`` from its checkpoint (``config.epochs`` may be larger
        than the checkpoint's); with nothing to resume, start afresh.
    overwrite : bool
        Replace the run files in ``out_dir`` even when they belong to another configuration.
    progress : bool
        Show progress bars for training and decoding.
    dataset : Dataset or Recording, optional
        Use these data (:func:`graphens.data.from_arrays`, :class:`graphens.neural.Recording`)
        instead of loading ``config.dataset``.

    Returns
    -------
    dict
        The contents of ``results.json``: ``config``, :func:`graphens.evaluate.decode`'s keys
        (``single_accuracy``, ``ensemble_accuracy``, ``per_node_accuracy``, ``knn_accuracy``,
        ``agreement`` ...), the modality's own (neural: ``chance_accuracy``,
        ``frame_decoding``, ``data``), ``num_nodes``, ``num_edges``, ``topology``,
        ``graph_metrics`` (of the final graph, with ``distance_correlation``),
        ``receptive_field``, ``loss_history``, timings and ``warnings``; with
        ``config.plasticity``, ``plasticity``
        (:func:`graphens.plasticity.plasticity_results`: the graph's history, its metrics
        over time and the final accuracies).
    """
    with collect_warnings() as collected:
        results = _run(config, out_dir, resume, overwrite, progress, dataset, collected)
    return results


def _run(config: RunConfig, out_dir: str | Path | None, resume: bool, overwrite: bool,
         progress: bool, dataset: Any, collected: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    if not isinstance(config, RunConfig):
        raise GraphensError(f"config must be a graphens.config.RunConfig, not "
                            f"{type(config).__name__}.")
    device = resolve_device(config.device)
    if config.precision == "bf16":
        check_bf16(device)  # before the output directory and the data
    if out_dir is not None:  # checked now, claimed (written) once the run is known to start
        check_run_dir(out_dir, config, resume=resume, overwrite=overwrite)
    early = tau_warning(config)
    if early:
        warn(early, stacklevel=3)

    modality = get_modality(config.modality)  # type: ignore[arg-type]
    data = modality.load(config, dataset)
    labelled = _check_data(config, data)
    rows = data.x_train.shape[0] + data.x_test.shape[0]
    nodes, width = modality.planned_size(config, data)
    if nodes is not None:  # before the graph: a dense graph of many nodes is itself large
        dense = nodes * (nodes - 1) if config.topology == "all-to-all" else nodes
        check_memory(modality.encoder_factory(config, None), nodes, width, config, rows=rows,
                     device=device, num_edges=dense)
    graph = modality.graph(config, data)
    factory = modality.encoder_factory(config, graph)
    check_memory(factory, graph.num_nodes, graph.field_width, config, rows=rows,
                 device=device, num_edges=int(graph.edge_index.shape[1]))
    ensemble = Ensemble(graph, factory, seed=config.seed)
    objective = modality.objective(config, data, graph)
    rule = make_rule(config.plasticity, seed=config.seed, **config.plasticity_params) \
        if config.plasticity is not None else None
    out = claim_run_dir(out_dir, config, resume=resume, overwrite=overwrite) \
        if out_dir is not None else None
    train_config = TrainConfig(epochs=config.epochs if config.trains else 0,
                               batch_size=config.batch_size, lr=config.lr, seed=config.seed,
                               device=str(device), progress=progress,
                               precision=config.precision)
    outcome = train(ensemble, objective, data.x_train, data.y_train, config=train_config,
                    transform=modality.transform(config, data),
                    checkpoint=out / CHECKPOINT_FILE if out is not None else None,
                    resume=resume, identity=config.identity(), plasticity=rule)

    return finish_run(config, out, modality, data, ensemble, outcome, labelled=labelled,
                      started=started, device=device, progress=progress, collected=collected,
                      rule=rule)


def finish_run(config: RunConfig, out: Path | None, modality: Modality, data: Any,
               ensemble: Ensemble, outcome: TrainResult, *, labelled: bool, started: float,
               device: torch.device, progress: bool, collected: list[str],
               extra_results: dict[str, Any] | None = None,
               rule: Any = None, features: tuple[Any, Any] | None = None,
               decoded: dict[str, Any] | None = None) -> dict[str, Any]:
    """Decode a trained ensemble, gather its results and write the run's files.

    The second half of :func:`run`, shared with fleets (:func:`graphens.fleet.run_fleet`,
    which calls it once per member). ``collected`` holds the run's warnings so far; ``rule``
    is the run's plasticity rule, if any (its record goes into the results). A fleet passes
    each member's ``features`` (train and test embeddings) and ``decoded`` probe results,
    computed for all members at once (:func:`graphens.evaluate.decode_many`).
    """
    graph = on_host(ensemble.graph)
    train_z, test_z = features if features is not None else (
        modality.features(config, ensemble, data.x_train),
        modality.features(config, ensemble, data.x_test))
    if decoded is not None:
        for message in decoded["warnings"]:
            warn(message, stacklevel=3)
    elif labelled:
        decoded = decode(train_z, data.y_train, test_z, data.y_test,
                         edge_index=graph.edge_index, seed=config.seed, progress=progress)
    else:
        decoded = _edge_measures(test_z, graph.edge_index)
    extra = modality.extra_results(config, data, train_z, test_z, progress) if labelled else {}
    if not labelled:
        warn("the data have no labels (or one class): the probe decoding was skipped; "
             "agreement and alignment were measured.", stacklevel=3)
    for message in training_warnings(config, outcome.history, outcome.first_loss, decoded):
        warn(message, stacklevel=3)
    results: dict[str, Any] = {
        "modality": config.modality,
        "config": asdict(config),
        **decoded,
        "num_nodes": graph.num_nodes,
        "num_edges": int(graph.edge_index.shape[1]),
        "topology": graph.topology,
        "graph_metrics": {**metrics(graph, seed=config.seed),
                          "distance_correlation": distance_correlation(graph)},
        "receptive_field": {**graph.receptive_field, "sizes": graph.rf_mask.sum(1).tolist()},
        "epochs_run": outcome.epochs_run,
        "loss_history": outcome.history,
        "first_loss": outcome.first_loss,
        "train_seconds": outcome.train_seconds,
        "samples_per_second": outcome.samples_per_second,
        "total_seconds": time.perf_counter() - started,
        "device": str(device),
    }
    if rule is not None:
        results["plasticity"] = plasticity_results(rule, graph, decoded, config.seed)
    results.update(extra)  # the modality's own keys (and its view of the receptive fields)
    results.update(extra_results or {})
    # Every graphens warning of the run (config, graph, probes, training), once each.
    results["warnings"] = list(collected)
    if out is not None:
        atomic_torch_save(out / ENSEMBLE_FILE, {"graph": graph, "state_dict":
                                                ensemble.state_dict(), "config": asdict(config)})
        atomic_write_json(out / RESULTS_FILE, results)
        record_config(out, config)
    return results


def _check_data(config: RunConfig, data: Any) -> bool:
    """Labels and sizes, before any step. Returns whether the probe can decode."""
    n = int(data.x_train.shape[0])
    if config.trains and n < 2:
        raise GraphensError(f"the training split has {n} sample(s); training needs >= 2.")
    labels = [getattr(data, "y_train", None), getattr(data, "y_test", None)]
    if config.baseline == "supervised" and labels[0] is None:
        raise GraphensError(f"dataset {config.dataset!r} has no training labels; the "
                            "supervised baseline needs them (pass y_train to from_arrays).")
    if any(y is None for y in labels):
        if config.baseline == "raw-input" or not config.trains:
            raise GraphensError(
                f"the {config.baseline} baseline is only decoded, and the data have no labels "
                "to decode; give y_train and y_test.")
        return False
    classes = int(torch.unique(labels[0]).numel())
    if classes < 2:
        raise GraphensError(f"y_train holds {classes} class; decoding (and the supervised "
                            "baseline) need labels of at least 2 classes.")
    if n < MIN_DECODE_SAMPLES:
        raise GraphensError(f"the training split has {n} samples; decoding holds out 10 % for "
                            f"the probe's C and needs >= {MIN_DECODE_SAMPLES}.")
    return True


def _edge_measures(test_z: Tensor, edge_index: Tensor, batch_size: int = 128) -> dict[str, Any]:
    """Agreement and alignment only (for unlabelled data)."""
    agree = agreement_scores(test_z, edge_index, batch_size=batch_size)
    align = alignment_scores(test_z, edge_index, batch_size=batch_size)
    m = test_z.shape[1]
    return {"edges": edge_index.t().tolist(),
            "agreement": {"mean": float(agree.mean()) if agree.numel() else None,
                          "per_edge": agree.tolist()},
            "alignment": {"mean": float(align.mean()) if align.numel() else None,
                          "per_edge": align.tolist()},
            "agreement_chance": 1.0 / min(batch_size, m)}


def available_bytes(device: torch.device) -> int | None:
    """Free memory of ``device`` (CUDA: the driver's count; CPU: MemAvailable), if known."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(factory: Any, num_nodes: int, in_features: int, config: RunConfig, *,
                 rows: int, device: torch.device, num_edges: int = 0) -> int:
    """Refuse a run whose training step and embeddings would not fit in memory.

    Returns the estimate in bytes (:func:`graphens.modality.estimate_training_bytes` plus the
    ``[N, rows, D]`` embeddings that decoding holds).
    """
    need = estimate_training_bytes(factory, num_nodes, in_features, config.batch_size,
                                   num_edges)
    need += 4 * num_nodes * rows * config.dim  # type: ignore[operator]
    have = available_bytes(device)
    if have is not None and need > MEMORY_SHARE * have:
        raise GraphensError(
            f"this run needs about {need / 2**30:.1f} GiB ({num_nodes} nodes of {in_features} "
            f"inputs, {num_edges} edges, hidden {list(config.hidden or ())}, batch "
            f"{config.batch_size}) but "
            f"{device.type} has {have / 2**30:.1f} GiB free: use fewer --nodes, a smaller "
            "--hidden or --batch-size.")
    return need


def load_ensemble(path: str | Path) -> tuple[Ensemble, RunConfig]:
    """Rebuild a trained ensemble (any modality) from ``ensemble.pt`` written by :func:`run`."""
    from graphens.graph import as_ensemble_graph

    path = Path(path)
    if not path.is_file():
        raise GraphensError(f"{str(path)!r} does not exist; give the ensemble.pt of a run.")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
        config = RunConfig(**saved["config"])
        graph = as_ensemble_graph(saved["graph"])
        state = saved["state_dict"]
    except GraphensError:
        raise
    except Exception as err:  # unpickling raises many types for a damaged or foreign file
        raise GraphensError(f"{str(path)!r} is not an ensemble written by graphens "
                            f"({type(err).__name__}: {str(err)[:80]}); give a run's "
                            "ensemble.pt.") from None
    modality: Modality = get_modality(config.modality)  # type: ignore[arg-type]
    ensemble = Ensemble(graph, modality.encoder_factory(config, graph), seed=config.seed)
    try:
        ensemble.load_state_dict(state)
    except RuntimeError as err:
        raise GraphensError(f"{str(path)!r}: its weights do not fit its configuration "
                            f"({str(err).splitlines()[0][:100]}).") from None
    return ensemble.eval(), config


def format_summary(results: dict[str, Any], out: str | None = None) -> str:
    """The short table printed after a run."""
    config = results["config"]
    modality = get_modality(config.get("modality") or "vision")
    rows: list[tuple[str, str]] = [
        ("dataset", f"{config['dataset']} ({results.get('modality', 'vision')})"),
        ("topology", f"{config['topology']} ({results['num_nodes']} nodes, "
                     f"{results['num_edges']} edges)"),
        ("objective", config["objective"] if config["baseline"] == "closer"
         else config["baseline"]),
        ("epochs", str(results["epochs_run"])),
    ]
    if "single_accuracy" in results:
        knn = results.get("knn_accuracy", {})
        rows += [("single-node accuracy", f"{results['single_accuracy']:.4f}"),
                 ("ensemble accuracy", f"{results['ensemble_accuracy']:.4f}"),
                 ("kNN single / ensemble", f"{knn.get('single', float('nan')):.4f} / "
                                           f"{knn.get('ensemble', float('nan')):.4f}")]
        rows += modality.summary_rows(results)
    agreement = (results.get("agreement") or {}).get("mean")
    if agreement is not None:
        chance = results.get("agreement_chance", float("nan"))
        rows.append(("agreement (chance)", f"{agreement:.3f} ({chance:.3f})"))
    rows.append(("train time", f"{results['train_seconds']:.1f} s "
                               f"({results['samples_per_second']:.0f} samples/s)"))
    if out is not None:
        rows.append(("results", f"{out}/{RESULTS_FILE}"))
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows)
