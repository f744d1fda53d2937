"""``graphens.sweep(spec)``: run every trial of a spec that has no results yet, then the table.

The sweep directory::

    DIR/spec.json               the normalised spec and its trial ids (refuses another spec)
    DIR/trials/<id>/trial.json  the trial (config, label, data subset)
    DIR/trials/<id>/results.json, ensemble.pt, checkpoint.pt   from graphens.experiment.run
    DIR/trials/<id>/error.json  a failed trial: the error and its traceback
    DIR/results.parquet         one row per trial (results.csv without pyarrow)

A trial with ``results.json`` is done and skipped on a re-run; a trial without (never started,
killed, or failed) runs again, resuming from its last epoch checkpoint when it has one.
Trials that can co-train run as fleets (``pack="auto"``, :mod:`graphens.fleet`); each still
gets its own directory and row, and a killed fleet resumes from its members' checkpoints.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from graphens.config import RunConfig
from graphens.errors import GraphensError
from graphens.fleet import DEFAULT_MAX_NODES
from graphens.fleet import pack as pack_configs
from graphens.io import atomic_write_json
from graphens.sweep.executors import RAY_CONNECT_TIMEOUT, make_executor
from graphens.sweep.spec import SweepSpec, load_spec
from graphens.sweep.table import TRIALS_DIR, read_json, trial_dir, write_table

SPEC_FILE = "spec.json"
#: ``pack`` options of :func:`sweep`.
PACK_MODES = ("auto", "on", "off")


def _describe_spec(record: Mapping[str, Any]) -> str:
    return f"{record.get('name', '?')!r} ({len(record.get('trials', []))} trials)"


def check_directory(out: Path, spec: SweepSpec, force: bool = False) -> None:
    """Check that ``out`` is new, empty, or holds this spec's sweep.

    Raises
    ------
    GraphensError
        When ``out`` holds another spec's sweep, or files that are not a sweep, and ``force``
        is not set.
    """
    path = out / SPEC_FILE
    if path.exists():
        previous = read_json(path)
        if previous is None and not force:
            raise GraphensError(f"{str(path)!r} is unreadable, so {str(out)!r} may hold another "
                                "sweep; pass --force (force=True) to reuse the directory, or "
                                "use a new --out.")
        other = previous is not None and set(previous.get("trials", [])) != set(spec.ids)
        if other and not force:
            common = len(set(previous.get("trials", [])) & set(spec.ids))
            raise GraphensError(
                f"{str(out)!r} holds the results of another spec, "
                f"{_describe_spec(previous)}, not {spec.name!r} ({len(spec.ids)} trials; "
                f"{common} in common). Use a new --out, or pass --force (force=True) to "
                "record this spec there (finished trials with the same config are kept "
                "and reused).")
    elif out.is_dir() and any(out.iterdir()) and not force:
        raise GraphensError(f"{str(out)!r} is not empty and is not a sweep directory (no "
                            f"{SPEC_FILE}); use a new --out, or pass --force (force=True).")


def _payload(out: Path, spec: SweepSpec, trial: Any) -> dict[str, Any]:
    record = trial.record()
    return {"id": trial.id, "config": record["config"], "extras": record["extras"],
            "dir": str(trial_dir(out, trial.id)), "keep": spec.keep, "threads": None,
            "measures": spec.measures}


def _trains_on_gpu(payloads: Sequence[dict[str, Any]]) -> bool:
    """Whether the trials' device is a GPU (``auto`` resolves to CUDA when one is present)."""
    import torch

    devices = {str(p["config"].get("device", "auto")) for p in payloads}
    return bool(devices) and all(d.startswith("cuda") or (d == "auto"
                                                          and torch.cuda.is_available())
                                 for d in devices)


def packed_payloads(out: Path, spec: SweepSpec, trials: Sequence[Any], pack: str = "auto",
                    max_nodes: int = DEFAULT_MAX_NODES) -> list[dict[str, Any]]:
    """The payloads of ``trials``: with ``pack="on"``, trials that can co-train
    (:func:`graphens.fleet.pack`: same data subset, seed, fields, encoder and optimiser) become
    one fleet payload (``members``) of at most ``max_nodes`` nodes; ``"off"``: one per trial;
    ``"auto"``: ``"on"`` for trials that train on a GPU, ``"off"`` on the CPU, where a fleet's
    step measured slower than its members' steps one by one (0.78x at K 16 on 2 cores,
    ``benchmarks/bench_fleet.py``)."""
    if pack not in PACK_MODES:
        raise GraphensError(f"pack={pack!r} is not one of {', '.join(PACK_MODES)}: 'on' trains "
                            "trials that can share a fleet together, 'off' one by one, 'auto' "
                            "packs on a GPU only.")
    payloads = [_payload(out, spec, trial) for trial in trials]
    if pack == "off" or (pack == "auto" and not _trains_on_gpu(payloads)):
        return payloads
    by_extras: dict[str, list[int]] = {}
    for i, payload in enumerate(payloads):
        by_extras.setdefault(json.dumps(payload["extras"], sort_keys=True), []).append(i)
    packed: list[dict[str, Any]] = []
    for rows in by_extras.values():
        configs = [RunConfig(**payloads[i]["config"]) for i in rows]
        for group in pack_configs(configs, max_nodes=max_nodes):
            members = [payloads[rows[g]] for g in group]
            packed.append(members[0] if len(members) == 1 else
                          {"id": f"fleet of {len(members)}: {members[0]['id']}, ...",
                           "members": members, "threads": None})
    return packed


def record_result(out: Path, result: Mapping[str, Any]) -> None:
    """Write a finished trial's outcome into its directory (atomically).

    ``results.json`` is normally already there (the worker wrote it); it is written here too
    for workers on other machines without a shared filesystem.
    """
    folder = trial_dir(out, result["id"])
    if result["status"] == "ok":
        if not (folder / "results.json").exists():
            atomic_write_json(folder / "results.json", result["results"])
        (folder / "error.json").unlink(missing_ok=True)
    else:
        atomic_write_json(folder / "error.json", {
            "id": result["id"], "error": result.get("error"),
            "traceback": result.get("traceback"), "host": result.get("host"),
            "seconds": result.get("seconds")})


def sweep(spec: str | Path | Mapping[str, Any] | SweepSpec, out: str | Path | None = None, *,
          executor: str = "local", workers: int | None = None, force: bool = False,
          address: str | None = None, resources: Mapping[str, Any] | None = None,
          progress: bool = True, timeout: float = RAY_CONNECT_TIMEOUT,
          pack: str = "auto") -> Any:
    """Run a sweep: every trial of ``spec`` without results in ``out``, then the table.

    Parameters
    ----------
    spec : path or dict
        A TOML/YAML/JSON spec file or the same structure as a dict (see
        :mod:`graphens.sweep.spec`).
    out : path, optional
        The sweep directory (default ``runs/sweeps/<spec name>``).
    executor : {"local", "ray"}
        ``local``: in this process (``workers=1``) or a process pool; ``ray``: one Ray task
        per trial.
    workers : int, optional
        Local: concurrent trial processes (default: one per 2 cores, 1 with a GPU). Ray:
        CPUs of the local Ray instance (default all; ignored when joining a cluster).
    force : bool
        Reuse ``out`` although it holds another spec's sweep (its finished trials with the
        same configuration are kept).
    address : str, optional
        With ``executor="ray"``: the cluster to join (``host:port``, ``ray://host:port``,
        ``auto``); default: start a local Ray instance.
    resources : dict, optional
        Ray: ``cpus`` and ``gpus`` per trial, ``retries`` (task ``max_retries``); overrides the
        spec's ``[resources]``.
    progress : bool
        Show a progress bar over trials.
    timeout : float
        Seconds to wait for a Ray cluster to answer.
    pack : {"auto", "on", "off"}
        ``on``: trials that differ only in topology, τ, distance or stop-gradient (same seed,
        data and architecture) train together as fleets (:mod:`graphens.fleet`); the table,
        the trial directories and resuming are the same as with ``off`` (one by one).
        ``auto`` (default) packs when the trials train on a GPU, not on the CPU (where a
        fleet's step measured slower than one by one).

    Returns
    -------
    pandas.DataFrame or list of dict
        One row per trial of the spec (see :mod:`graphens.sweep.table`); a list of dicts when
        pandas is not installed.
    """
    loaded = load_spec(spec)
    out = Path(out) if out is not None else Path("runs") / "sweeps" / loaded.name
    check_directory(out, loaded, force=force)
    todo = [t for t in loaded.trials
            if not (trial_dir(out, t.id) / "results.json").exists()]
    payloads = packed_payloads(out, loaded, todo, pack)
    runner = make_executor(executor, workers=workers, address=address,
                           resources={**loaded.resources, **(resources or {})},
                           num_trials=max(1, len(payloads)), timeout=timeout)
    atomic_write_json(out / SPEC_FILE, {"name": loaded.name, "spec": loaded.spec,
                                        "trials": loaded.ids})
    (out / TRIALS_DIR).mkdir(parents=True, exist_ok=True)
    if not todo:
        if progress:
            print(f"sweep {loaded.name!r}: all {len(loaded.trials)} trials already have "
                  f"results in {out}")
        return write_table(out, loaded.trials)
    write_table(out, loaded.trials)
    for trial in todo:
        atomic_write_json(trial_dir(out, trial.id) / "trial.json", trial.record())
    failed: list[str] = []
    bar = tqdm(total=len(loaded.trials), initial=len(loaded.trials) - len(todo),
               desc=f"sweep {loaded.name}", unit="trial", disable=not progress)
    if progress:
        fleets = sum(1 for payload in payloads if "members" in payload)
        packing = f", {fleets} fleet(s) of co-training trials" if fleets else ""
        bar.write(f"sweep {loaded.name!r}: {len(todo)} of {len(loaded.trials)} trials to run "
                  f"({runner.describe()}{packing}) into {out}")

    def on_result(result: dict[str, Any]) -> None:
        record_result(out, result)
        if result["status"] != "ok":
            failed.append(result["id"])
            bar.write(f"trial {result['id']} failed: {result.get('error')}")
        write_table(out, loaded.trials)
        bar.update(1)
        bar.set_postfix(failed=len(failed))

    try:
        runner.run(payloads, on_result)
    finally:
        bar.close()
    table = write_table(out, loaded.trials)
    if progress and failed:
        print(f"sweep {loaded.name!r}: {len(failed)} trial(s) failed (see "
              f"{out}/{TRIALS_DIR}/<id>/error.json); re-run the same command to retry them.")
    return table


def load_sweep(out: str | Path) -> SweepSpec:
    """The spec recorded in a sweep directory (``DIR/spec.json``)."""
    path = Path(out) / SPEC_FILE
    record = read_json(path)
    if record is None or "spec" not in record:
        raise GraphensError(f"{str(out)!r} is not a sweep directory (no readable {SPEC_FILE}); "
                            "run `graphens sweep SPEC --out DIR` first.")
    try:
        return load_spec(record["spec"])
    except GraphensError as err:
        raise GraphensError(f"{str(path)!r}: {err}") from None
