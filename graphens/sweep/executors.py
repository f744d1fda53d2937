"""Where the trials of a sweep run: in this process, in a local process pool, or on Ray.

Every executor calls the same function, :func:`run_payload`, once per payload: one trial
(:func:`run_trial`) or a fleet of trials that co-train (:func:`run_fleet_trials`, see
:mod:`graphens.fleet`); the executor hands on one outcome per trial either way. A trial trains and
decodes with :func:`graphens.experiment.run` into the trial's directory (which
writes ``results.json`` atomically as its last step) and returns a small dict: the results,
or the error and its traceback. A trial that raises is reported, never re-raised, so one bad
trial cannot stop a sweep.

* :class:`LocalExecutor` — ``workers=1``: one trial after another in this process;
  ``workers=K``: a :class:`concurrent.futures.ProcessPoolExecutor` of K spawned processes, each
  with ``cores // K`` torch threads.
* :class:`RayExecutor` — one Ray task per trial (``ray.remote`` with ``num_cpus``,
  ``num_gpus`` and ``max_retries``); Ray schedules, places and retries them. ``address=None``
  starts a local Ray instance; any other address joins an existing cluster, after checking
  within a time limit that it answers.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from graphens.errors import GraphensError, GraphensWarning

#: Executors by name.
EXECUTORS = ("local", "ray")
#: Seconds to wait for an existing Ray cluster to answer before giving up.
RAY_CONNECT_TIMEOUT = 60.0

Payload = dict[str, Any]
OnResult = Callable[[dict[str, Any]], None]

_DATASET_CACHE: dict[tuple[Any, ...], Any] = {}


# --------------------------------------------------------------------------------------------
# One trial (runs inside a worker)
# --------------------------------------------------------------------------------------------


def available_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def subset_dataset(dataset: Any, max_train: int | None = None, max_test: int | None = None,
                   seed: int = 0) -> Any:
    """A seeded random subset of ``max_train`` training and ``max_test`` test samples.

    The subset depends only on the dataset and ``seed`` (not on the trial), so every trial of
    a sweep sees the same images.
    """
    import torch

    from graphens.data import Dataset

    def pick(x: Any, y: Any, n: int | None, stream: int) -> tuple[Any, Any]:
        if n is None or n >= len(x):
            return x, y
        generator = torch.Generator().manual_seed(seed * 2 + stream)
        rows = torch.randperm(len(x), generator=generator)[:n].sort().values
        return x[rows], (y[rows] if y is not None else None)

    if max_train is None and max_test is None:
        return dataset
    x_train, y_train = pick(dataset.x_train, dataset.y_train, max_train, 0)
    x_test, y_test = pick(dataset.x_test, dataset.y_test, max_test, 1)
    return Dataset(dataset.name, x_train, y_train, x_test, y_test, dataset.image_shape)


def _load_dataset(name: str, params: dict[str, Any], extras: dict[str, Any]) -> Any:
    import json

    from graphens.data import load_dataset

    key = (name, json.dumps(params, sort_keys=True, default=str), extras.get("max_train"),
           extras.get("max_test"))
    if key not in _DATASET_CACHE:
        if len(_DATASET_CACHE) >= 2:
            _DATASET_CACHE.clear()
        _DATASET_CACHE[key] = subset_dataset(load_dataset(name, **params),
                                             extras.get("max_train"), extras.get("max_test"))
    return _DATASET_CACHE[key]


def _measure(payload: Payload, dataset: Any) -> None:
    """Take the cross-encoder measures of a finished trial when the spec asks for them
    (``measures.json`` beside its results; the table reads its summary). A failure leaves the
    trial's results alone and is said as a warning."""
    options = payload.get("measures")
    if options is None:
        return
    from graphens.measures import measure_run

    try:
        measure_run(payload["dir"], dataset=dataset, **options)
    except Exception as err:  # noqa: BLE001 - the trial itself succeeded
        warnings.warn(f"trial {payload['id']}: the measures failed ({type(err).__name__}: "
                      f"{err}); its results are kept.", GraphensWarning, stacklevel=2)


def _keep_only(trial_dir: Path, keep: str) -> None:
    """Delete what ``keep`` does not ask for once a trial has its results."""
    drop = {"results": ("checkpoint.pt", "ensemble.pt"), "ensemble": ("checkpoint.pt",),
            "all": ()}[keep]
    for name in drop:
        (trial_dir / name).unlink(missing_ok=True)


def run_trial(payload: Payload) -> dict[str, Any]:
    """Train and decode one trial; never raises for a failing trial.

    Parameters
    ----------
    payload : dict
        ``id``, ``config`` (RunConfig fields), ``extras`` (``max_train``/``max_test``),
        ``dir`` (the trial's directory), ``keep`` and ``threads`` (torch threads, or None to
        leave torch's setting alone).

    Returns
    -------
    dict
        ``id``, ``status`` (``"ok"`` or ``"failed"``), ``host``, ``seconds`` and either
        ``results`` (what :func:`graphens.experiment.run` returned) or ``error`` and
        ``traceback``.
    """
    started = time.perf_counter()
    base = {"id": payload["id"], "host": socket.gethostname(), "pid": os.getpid()}
    try:
        import torch

        from graphens.config import RunConfig
        from graphens.experiment import run

        if payload.get("threads"):
            torch.set_num_threads(int(payload["threads"]))
        config = RunConfig(**payload["config"])
        # Vision data are loaded once per process and shared by its trials; a neural run
        # loads its recording itself.
        dataset = (_load_dataset(config.dataset, config.dataset_params,
                                 payload.get("extras", {}))
                   if config.modality == "vision" else None)
        trial_dir = Path(payload["dir"])
        # A trial's warnings go to its results.json and the table's warnings column; printed,
        # they would only break the sweep's progress bar.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GraphensWarning)
            results = run(config, trial_dir, resume=True, progress=False, dataset=dataset)
            _measure(payload, dataset)
        _keep_only(trial_dir, payload.get("keep", "all"))
        return {**base, "status": "ok", "results": results,
                "seconds": time.perf_counter() - started}
    except Exception as err:  # a failing trial is recorded, the sweep goes on
        return failed_result(payload, err, traceback.format_exc(), started, base)


def run_fleet_trials(payload: Payload) -> list[dict[str, Any]]:
    """Train the trials of ``payload["members"]`` as one fleet (:func:`graphens.fleet.run_fleet`);
    one outcome per member, as :func:`run_trial` gives. If the fleet fails (a bad member, or
    members that cannot co-train after all, :class:`graphens.fleet.FleetError`), its members run
    one by one, so each gets its own outcome."""
    started = time.perf_counter()
    members = payload["members"]
    try:
        import torch

        from graphens.config import RunConfig
        from graphens.fleet import run_fleet

        if payload.get("threads"):
            torch.set_num_threads(int(payload["threads"]))
        configs = [RunConfig(**member["config"]) for member in members]
        dataset = _load_dataset(configs[0].dataset, configs[0].dataset_params,
                                members[0].get("extras", {}))
        dirs = [Path(member["dir"]) for member in members]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GraphensWarning)
            results = run_fleet(configs, dirs, resume=True, progress=False, dataset=dataset)
            for member in members:
                _measure(member, dataset)
        seconds = time.perf_counter() - started
        outcomes = []
        for member, result in zip(members, results, strict=True):
            _keep_only(Path(member["dir"]), member.get("keep", "all"))
            outcomes.append({"id": member["id"], "host": socket.gethostname(),
                             "pid": os.getpid(), "status": "ok", "results": result,
                             "seconds": seconds, "fleet_size": len(members)})
        return outcomes
    except Exception:  # noqa: BLE001 - each member then fails (or not) on its own
        # One bad member must not fail the others, and members that cannot co-train after
        # all (FleetError: checkpoints at different epochs) still run: one by one, each
        # resuming from its own (solo-format) checkpoint.
        return [run_trial({**member, "threads": payload.get("threads")}) for member in members]


def run_payload(payload: Payload) -> list[dict[str, Any]]:
    """One trial (:func:`run_trial`) or one fleet of trials (:func:`run_fleet_trials`)."""
    return run_fleet_trials(payload) if "members" in payload else [run_trial(payload)]


def failed_payload(payload: Payload, err: BaseException, trace: str) -> list[dict[str, Any]]:
    """What a payload whose worker died gives: a failed outcome for each of its trials."""
    return [failed_result(member, err, trace) for member in payload.get("members", [payload])]


def failed_result(payload: Payload, err: BaseException, trace: str,
                  started: float | None = None, base: dict[str, Any] | None = None,
                  ) -> dict[str, Any]:
    """The dict :func:`run_trial` returns for a trial that raised ``err``."""
    base = base or {"id": payload["id"], "host": socket.gethostname(), "pid": os.getpid()}
    message = str(err).strip() or repr(err)
    return {**base, "status": "failed", "error": f"{type(err).__name__}: {message}",
            "traceback": trace,
            "seconds": time.perf_counter() - started if started is not None else None}


# --------------------------------------------------------------------------------------------
# Local
# --------------------------------------------------------------------------------------------


def auto_workers(num_trials: int) -> int:
    """Workers of the local executor when not given: 1 with a GPU (the trials share it),
    otherwise one per 2 cores (each with 2 torch threads), at most one per trial."""
    import torch

    if torch.cuda.is_available():
        return 1
    return max(1, min(num_trials, available_cores() // 2))


class LocalExecutor:
    """Trials in this process (``workers=1``) or in a pool of spawned processes.

    Parameters
    ----------
    workers : int
        Concurrent trials. With more than one, each worker process gets
        ``max(1, cores // workers)`` torch threads.
    """

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise GraphensError(f"workers={workers!r} must be an integer >= 1.")
        self.workers = workers

    def describe(self) -> str:
        return ("local, sequential" if self.workers == 1 else
                f"local, {self.workers} processes x {self.threads()} threads")

    def threads(self) -> int:
        return max(1, available_cores() // self.workers)

    def run(self, payloads: Sequence[Payload], on_result: OnResult) -> None:
        """Run every payload; call ``on_result`` with each trial's outcome as it finishes."""
        if self.workers == 1 or len(payloads) <= 1:
            for payload in payloads:
                for result in run_payload(payload):
                    on_result(result)
            return
        threads = self.threads()
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(payloads)),
                                   mp_context=get_context("spawn"))
        futures = {pool.submit(run_payload, {**payload, "threads": threads}): payload
                   for payload in payloads}
        try:
            for future in as_completed(futures):
                try:
                    results = future.result()
                except BrokenProcessPool as err:
                    results = failed_payload(
                        futures[future], err,
                        "a worker process died (killed, or out of memory); re-run the sweep "
                        "to retry this trial, or use fewer --workers.\n")
                for result in results:
                    on_result(result)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()


# --------------------------------------------------------------------------------------------
# Ray
# --------------------------------------------------------------------------------------------


def import_ray() -> Any:
    """The ``ray`` module, or a GraphensError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise GraphensError(
            "--executor ray needs Ray, which is not installed: pip install 'graphens[ray]' "
            "(or pip install ray), or run with --executor local.") from None
    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    """``host:port`` (optionally ``ray://``) -> (host, port); None for ``auto`` and others."""
    text = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast when nothing listens at the cluster's address."""
    target = _host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout):
            pass
    except OSError as err:
        raise GraphensError(
            f"the Ray cluster at {address!r} is unreachable ({err}); start one with "
            "`ray start --head`, check --address (host:port of the head node, e.g. "
            "10.0.0.1:6379), or leave --address out to start a local Ray instance.") from None


_PROBE = ("import sys, ray\n"
          "ray.init(address=sys.argv[1], logging_level='ERROR')\n"
          "print(ray.cluster_resources())\n"
          "ray.shutdown()\n")


def probe_cluster(address: str, timeout: float = RAY_CONNECT_TIMEOUT) -> None:
    """Connect to the cluster once from a child process, killed after ``timeout`` seconds.

    ``ray.init(address=...)`` can wait without end for a head that does not answer; doing it
    first in a child that is killed on time keeps the sweep from hanging.
    """
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE, address], capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise GraphensError(
            f"the Ray cluster at {address!r} did not answer within {timeout:.0f} s; check that "
            "its head node is up (`ray status` there) and that --address is its GCS address "
            "(host:6379) or ray://host:10001.") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit code {done.returncode}"
        raise GraphensError(
            f"cannot join the Ray cluster at {address!r}: {reason}. Check --address, or leave "
            "it out to start a local Ray instance.")


def connect_ray(ray: Any, address: str | None = None, *, num_cpus: int | None = None,
                timeout: float = RAY_CONNECT_TIMEOUT) -> bool:
    """Initialise Ray; return whether this call started it (and so should shut it down).

    ``address=None`` (or ``"local"``) starts a local Ray instance with ``num_cpus`` CPUs; any
    other address joins that cluster after :func:`check_reachable` and :func:`probe_cluster`.
    """
    if ray.is_initialized():
        return False
    if address in (None, "", "local"):
        ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING)
        return True
    check_reachable(address)
    probe_cluster(address, timeout)
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except Exception as err:  # ConnectionError, RuntimeError, ... depending on the version
        raise GraphensError(f"cannot join the Ray cluster at {address!r}: {err}") from None
    return True


class RayExecutor:
    """One Ray task per trial, with Ray's own scheduling, resource requests and retries.

    Parameters
    ----------
    address : str, optional
        A cluster to join (``host:port``, ``ray://host:port`` or ``auto``); None starts a
        local Ray instance.
    cpus, gpus : float
        Resources each trial asks for (``num_cpus``, ``num_gpus`` of the task); a trial uses
        ``max(1, int(cpus))`` torch threads.
    retries : int
        ``max_retries`` of the task: how often Ray re-runs a trial whose worker died. A trial
        that raises is not retried (it is recorded as failed).
    local_cpus : int, optional
        CPUs of the local instance (default: all).
    timeout : float
        Seconds to wait for an existing cluster to answer.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, cpus: float = 1.0, gpus: float = 0.0,
                 retries: int = 2, local_cpus: int | None = None,
                 timeout: float = RAY_CONNECT_TIMEOUT) -> None:
        self.ray = import_ray()
        if cpus <= 0 or gpus < 0 or retries < 0:
            raise GraphensError(f"Ray resources per trial must be cpus > 0, gpus >= 0 and "
                                f"retries >= 0; got cpus={cpus}, gpus={gpus}, retries={retries}.")
        self.address, self.cpus, self.gpus, self.retries = address, cpus, gpus, int(retries)
        self.local_cpus, self.timeout = local_cpus, timeout

    def describe(self) -> str:
        where = self.address or "local instance"
        return f"ray ({where}), {self.cpus:g} CPU / {self.gpus:g} GPU per trial"

    def run(self, payloads: Sequence[Payload], on_result: OnResult) -> None:
        """Submit every payload as a task; call ``on_result`` as each one finishes."""
        ray = self.ray
        started = connect_ray(ray, self.address, num_cpus=self.local_cpus, timeout=self.timeout)
        task = ray.remote(run_payload).options(num_cpus=self.cpus, num_gpus=self.gpus,
                                             max_retries=self.retries)
        threads = max(1, int(self.cpus))
        pending = {task.remote({**payload, "threads": threads}): payload for payload in payloads}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    payload = pending.pop(ref)
                    try:
                        results = ray.get(ref)
                    except Exception as err:  # the worker died more than `retries` times
                        results = failed_payload(payload, err, traceback.format_exc())
                    for result in results:
                        on_result(result)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            if started:
                ray.shutdown()


def make_executor(name: str, *, workers: int | None = None, address: str | None = None,
                  resources: dict[str, Any] | None = None, num_trials: int = 1,
                  timeout: float = RAY_CONNECT_TIMEOUT) -> LocalExecutor | RayExecutor:
    """Build the executor ``name`` (``local`` or ``ray``) from the sweep's options."""
    resources = resources or {}
    if name == "local":
        if address is not None:
            raise GraphensError(f"--address {address!r} joins a Ray cluster; add "
                                "--executor ray (or drop --address).")
        return LocalExecutor(workers if workers is not None else auto_workers(num_trials))
    if name == "ray":
        return RayExecutor(address, cpus=float(resources.get("cpus", 1)),
                           gpus=float(resources.get("gpus", 0)),
                           retries=int(resources.get("retries", 2)), local_cpus=workers,
                           timeout=timeout)
    raise GraphensError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}.")
