"""The training loop: the paper's optimiser, seeded epochs, atomic checkpoints, resume.

The trainer knows nothing of images. Whatever varies the inputs (the paper's flip, rotation and
zoom, :class:`graphens.augment.ImageAugmentation`) is a ``transform(x, generator) -> x`` that
the caller passes in; it is applied to every batch on the data's device.

Every epoch ``e`` draws its shuffling and the transform's parameters from a CPU generator
seeded with ``derive_seed(seed, e, 1)``, and its dropout from the global stream seeded with
``derive_seed(seed, e, 0)``; nothing depends on the number of epochs asked for. A checkpoint is
written atomically at the end of every epoch, holding the weights, the optimiser state, the
history and the run's ``identity``. Resuming from the checkpoint of epoch ``k`` with
``config.epochs = E ≥ k`` therefore replays epochs ``k+1, …, E`` exactly as an uninterrupted
``E``-epoch run would, and reaches the same weights bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from graphens.config import FIELD_CONSTRAINTS
from graphens.ensemble import Ensemble
from graphens.errors import GraphensError
from graphens.graph import validate_graph
from graphens.io import atomic_torch_save
from graphens.optim import SlicedNAdam
from graphens.validation import (
    Interval,
    check_fields,
    describe_differences,
)

#: ``transform(x, generator) -> x``: a batch ``[B, S]`` in, a batch of the same shape out, on
#: the same device, with every random draw taken from ``generator`` (a seeded CPU generator).
Transform = Callable[[Tensor, torch.Generator], Tensor]

#: Written into every checkpoint, so a file of another kind is recognised as such.
CHECKPOINT_FORMAT = "graphens-train-checkpoint"

_POSITIVE = Interval("real", 0, None, closed="neither")
#: Steps between reads of the running loss (each read is a host synchronisation): a
#: non-finite loss is caught within this many steps.
CHECK_EVERY = 16


@dataclass
class TrainConfig:
    """Optimisation settings; defaults are the paper's (``method.md`` §5).

    Every field is checked when the config is made (:func:`graphens.validation.check_fields`).

    Parameters
    ----------
    epochs : int
        Passes over the training set, ``>= 0`` (0 trains nothing).
    batch_size : int
        Samples per step, ``>= 2`` (the contrastive loss compares samples within a batch).
    lr, eps : float
        NAdam's learning rate and epsilon, finite and ``> 0``.
    seed : int
        Seed of shuffling, transform and dropout, in ``[0, 2**63 - 1]``.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    progress : bool
        Show a progress bar and the resume line on stderr.
    precision : {"fp32", "bf16"}
        ``bf16`` runs the forward pass under ``torch.autocast(dtype=torch.bfloat16)``; the
        loss is reduced in fp32 and the weights and NAdam's state stay fp32.
    """

    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    eps: float = 1e-7
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    precision: str = "fp32"

    # The fields a run shares with RunConfig take its constraints; one definition each.
    _constraints = {
        **{name: FIELD_CONSTRAINTS[name]
           for name in ("epochs", "batch_size", "lr", "seed", "device", "precision")},
        "eps": [_POSITIVE],
        "progress": [bool],
    }
    _hints = {
        "epochs": "a whole number of passes over the data, 0 or more",
        "batch_size": "the contrastive loss compares samples within a batch; use 2 or more",
        "lr": "NAdam's learning rate, e.g. 1e-3",
        "eps": "NAdam's epsilon, e.g. 1e-7",
        "device": "auto, cpu, cuda or cuda:N",
    }

    def __post_init__(self) -> None:
        check_fields(asdict(self), self._constraints, self._hints)


@dataclass
class TrainResult:
    """What training produced, besides the weights it left in the ensemble.

    ``history``, ``train_seconds``, ``samples_seen`` and ``first_loss`` cover the whole run,
    the epochs of earlier, interrupted sessions included.
    """

    epochs_run: int
    history: list[float] = field(default_factory=list)  #: mean loss per epoch
    train_seconds: float = 0.0
    samples_seen: int = 0
    #: Epoch of the checkpoint this session resumed from; 0 for a fresh run.
    resumed_from: int = 0
    #: Loss of the run's very first step (None when no step was taken), to tell if it fell.
    first_loss: float | None = None

    @property
    def samples_per_second(self) -> float:
        return self.samples_seen / self.train_seconds if self.train_seconds > 0 else 0.0


def resolve_device(device: str) -> torch.device:
    """``"auto"`` picks CUDA when available, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise GraphensError(f"device={device!r} is not a torch device ({err}); use auto, cpu "
                            "or cuda.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise GraphensError(f"device={device!r} asked for CUDA but none is available; use "
                            "--device cpu or auto.")
    return resolved


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively (CUDA with bf16, or a CPU with the
    AVX512-BF16 or AMX-BF16 instructions); elsewhere autocast would emulate it, slowly."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            flags = cpuinfo.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def check_bf16(device: torch.device) -> None:
    """Refuse ``precision="bf16"`` on a device without native bfloat16, in one line."""
    if not bf16_supported(device):
        raise GraphensError(f"--precision bf16 needs native bfloat16 on {device} (CUDA with "
                            "bf16, or a CPU with AVX512-BF16/AMX); use --precision fp32.")


def derive_seed(seed: int, *parts: int) -> int:
    """A stable 63-bit seed for a sub-stream (epoch, purpose) of the run's seed."""
    digest = hashlib.sha256(json.dumps([int(seed), *map(int, parts)]).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def train(ensemble: Ensemble, objective: nn.Module, x: Tensor, y: Tensor | None = None, *,
          config: TrainConfig | None = None, transform: Transform | None = None,
          checkpoint: str | Path | None = None, resume: bool = False,
          identity: Mapping[str, Any] | None = None,
          plasticity: nn.Module | None = None) -> TrainResult:
    """Train ``ensemble`` (and ``objective``'s own parameters, if any) on ``x``.

    Each step takes a batch ``x_B`` of the epoch's shuffled order, applies
    ``x_B ← transform(x_B, generator)``, and takes one NAdam step on
    ``objective(ensemble(x_B), y_B, graph)``. Batches of fewer than 2 samples are dropped.

    Parameters
    ----------
    ensemble : Ensemble
        The model; its graph decides who supervises whom at every step.
    objective : nn.Module
        ``objective(z, y, graph) -> loss``, e.g. :class:`graphens.objectives.CLoSeRObjective`;
        ``objective.needs_labels`` says whether ``y`` is required.
    x : Tensor
        Training inputs ``[n, S]``, floating point, ``n >= 2``.
    y : Tensor, optional
        Labels ``[n]``, for objectives that need them.
    config : TrainConfig, optional
        Optimiser and loop settings (NAdam, lr 1e-3, eps 1e-7, batch 128 by default).
    transform : callable, optional
        ``transform(x_B, generator) -> x_B``, applied to every batch on the data's device, with
        the epoch's seeded CPU generator (e.g. :class:`graphens.augment.ImageAugmentation`).
    checkpoint : path or Checkpoint, optional
        Written atomically after every epoch (a path is a :class:`FileCheckpoint`; a fleet
        passes one that splits the state into its members' files).
    resume : bool
        Continue from ``checkpoint`` if it exists. It must come from the same run (same
        ``identity``, the epochs aside); ``config.epochs`` may be larger than the checkpoint's
        epoch, to extend the run, but not smaller.
    identity : mapping, optional
        A JSON-able description of the run (whatever changes its result), stored in the
        checkpoint and compared field by field on resume.
    plasticity : PlasticityRule, optional
        A rule of :mod:`graphens.plasticity` that edits ``ensemble.graph`` while it trains:
        attached before the optimiser is made (its parameters, if any, are optimised too),
        called after every optimiser step and at every epoch's end; its state and the current
        graph are saved in the checkpoint and restored on resume.

    Returns
    -------
    TrainResult
        Per-epoch mean losses, time, samples seen, ``resumed_from`` and ``first_loss``.

    Raises
    ------
    GraphensError
        Before any step, for bad inputs, a checkpoint of another run or architecture, one
        further on than ``config.epochs``, or an unreadable checkpoint file (never deleted);
        during training, if the loss stops being finite.
    """
    config = config if config is not None else TrainConfig()
    if not isinstance(config, TrainConfig):
        raise GraphensError(f"config={config!r} is not valid: pass a graphens.train.TrainConfig.")
    if transform is not None and not callable(transform):
        raise GraphensError(f"transform={transform!r} is not callable; pass a function "
                            "transform(x, generator) -> x, e.g. ImageAugmentation(shape).")
    identity = _json_identity(identity)
    needs_labels = bool(getattr(objective, "needs_labels", False))
    _check_data(x, y, needs_labels)
    validate_graph(ensemble.graph, require_edges=not needs_labels,
                   stop_gradient=getattr(objective, "stop_gradient", None),
                   num_signals=x.shape[1])
    device = resolve_device(config.device)
    bf16 = config.precision == "bf16"
    if bf16:
        check_bf16(device)
    ensemble.to(device)
    objective.to(device)
    params = [*ensemble.parameters(), *objective.parameters()]
    steps_per_epoch = x.shape[0] // config.batch_size + (x.shape[0] % config.batch_size >= 2)
    if plasticity is not None:
        plasticity.attach(ensemble.graph, objective, epochs=config.epochs,
                          steps_per_epoch=steps_per_epoch)
        params += list(plasticity.parameters())
    optimizer = SlicedNAdam(params, lr=config.lr, eps=config.eps)
    result = TrainResult(epochs_run=0)
    store = as_checkpoint(checkpoint)
    if resume and store is not None and store.exists():
        result = _resume(store, ensemble, objective, optimizer, identity, config, device,
                         plasticity)
        if config.progress:
            print(f"graphens: resuming from epoch {result.resumed_from} of {config.epochs} "
                  f"({checkpoint})", file=sys.stderr)

    x_device = x.to(device)
    y_device = y.to(device) if y is not None else None
    if transform is not None and result.epochs_run < config.epochs:
        # A bad transform (wrong image shape, ...) fails here, before any step; its own
        # generator leaves the run's random streams untouched.
        _apply_transform(transform, x_device[:2], torch.Generator().manual_seed(0))
    ensemble.train()
    for epoch in range(result.epochs_run, config.epochs):
        torch.manual_seed(derive_seed(config.seed, epoch, 0))  # dropout stream
        generator = torch.Generator().manual_seed(derive_seed(config.seed, epoch, 1))
        order = torch.randperm(x.shape[0], generator=generator)
        batches = [b for b in order.to(device).split(config.batch_size) if b.numel() >= 2]
        # The epoch's loss is summed on the device: reading it is a host synchronisation,
        # done only every CHECK_EVERY steps (and at the epoch's end) to catch a non-finite
        # loss early and to show it on the progress bar.
        total = torch.zeros((), dtype=torch.float64, device=device)
        seen = 0
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch",
                   disable=not config.progress, leave=False)
        tick = time.perf_counter()
        for step, rows in enumerate(bar):
            xb = x_device.index_select(0, rows)
            if transform is not None:
                xb = _apply_transform(transform, xb, generator)
            yb = y_device.index_select(0, rows) if y_device is not None else None
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = objective(ensemble(xb), yb, ensemble.graph)
            detached = loss.detach()
            if result.first_loss is None:
                result.first_loss = _finite_loss(detached, epoch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if plasticity is not None:
                plasticity.after_step(ensemble.graph, epoch * steps_per_epoch + step + 1, epoch)
            total += detached * rows.numel()
            seen += rows.numel()
            if (step + 1) % CHECK_EVERY == 0:
                mean = _finite_loss(total, epoch) / seen
                rate = seen / max(time.perf_counter() - tick, 1e-9)
                bar.set_postfix(loss=f"{mean:.4f}", samples_s=f"{rate:.0f}")
        bar.close()
        epoch_loss = _finite_loss(total, epoch) / max(seen, 1)
        result.train_seconds += time.perf_counter() - tick
        result.samples_seen += seen
        result.history.append(epoch_loss)
        result.epochs_run = epoch + 1
        end_epoch = getattr(objective, "end_epoch", None)
        if callable(end_epoch):  # objectives that keep per-epoch records (fleets)
            end_epoch()
        if plasticity is not None:
            plasticity.after_epoch(ensemble.graph, (epoch + 1) * steps_per_epoch, epoch + 1)
        if store is not None:
            store.write({**_plastic_state(ensemble, plasticity),
                "format": CHECKPOINT_FORMAT, "epoch": epoch + 1, "identity": identity,
                "ensemble": ensemble.state_dict(), "objective": objective.state_dict(),
                "optimizer": optimizer.state_dict(), "history": result.history,
                "train_seconds": result.train_seconds, "samples_seen": result.samples_seen,
                "first_loss": result.first_loss, "config": asdict(config)},
                optimizer)
    ensemble.eval()
    return result


def _finite_loss(value: Tensor, epoch: int) -> float:
    """``value`` as a float (a host synchronisation), refusing a non-finite loss in one line."""
    number = float(value)
    if not math.isfinite(number):
        raise GraphensError(f"the loss became {number} at epoch {epoch + 1}; lower --lr or "
                            "check the inputs for extreme values.")
    return number


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _check_data(x: Any, y: Any, needs_labels: bool) -> None:
    if not isinstance(x, Tensor):
        raise GraphensError(f"x must be a torch.Tensor [n, S], got {type(x).__name__}; convert "
                            "with torch.as_tensor(x, dtype=torch.float32).")
    if x.dim() != 2:
        raise GraphensError(f"x has shape {tuple(x.shape)}; training needs flat inputs [n, S] "
                            "(flatten with x.reshape(len(x), -1)).")
    if not x.is_floating_point():
        raise GraphensError(f"x has dtype {x.dtype}; training needs floating-point inputs "
                            "(convert with x.float()).")
    if x.shape[0] < 2:
        raise GraphensError(f"need at least 2 training samples; got {x.shape[0]}.")
    if y is None:
        if needs_labels:
            raise GraphensError("this objective needs labels (supervised baseline) but y is "
                                "None; pass y, or use an objective that needs none.")
        return
    if not isinstance(y, Tensor) or y.dim() != 1:
        shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise GraphensError(f"y must be a tensor of labels [n], got {shape}.")
    if y.shape[0] != x.shape[0]:
        raise GraphensError(f"x has {x.shape[0]} rows but y has {y.shape[0]} labels; give one "
                            "label per row.")


def _json_identity(identity: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``identity`` as plain JSON data (tuples become lists), so checkpoints load safely."""
    if identity is None:
        return None
    if not isinstance(identity, Mapping):
        raise GraphensError(f"identity={identity!r} is not valid: give a dict describing the "
                            "run, e.g. config.identity().")
    try:
        return json.loads(json.dumps(dict(identity), allow_nan=False))
    except (TypeError, ValueError) as err:
        raise GraphensError(f"identity is not JSON-able ({err}); give the run's description "
                            "with plain values (str, int, float, bool, None, lists, dicts).")\
            from None


def _apply_transform(transform: Transform, xb: Tensor, generator: torch.Generator) -> Tensor:
    out = transform(xb, generator)
    if not isinstance(out, Tensor) or out.shape != xb.shape or out.device != xb.device:
        got = (f"{tuple(out.shape)} on {out.device}" if isinstance(out, Tensor)
               else type(out).__name__)
        raise GraphensError(f"transform {transform!r} returned {got} for a batch "
                            f"{tuple(xb.shape)} on {xb.device}; it must return a batch of the "
                            "same shape on the same device.")
    return out


# --------------------------------------------------------------------------------------------
# Resuming
# --------------------------------------------------------------------------------------------

_LEFT_ALONE = ("it was left untouched: move it away, or rerun without --resume into a new "
               "--out directory")
_REQUIRED = {"epoch": int, "ensemble": Mapping, "objective": Mapping, "optimizer": Mapping,
             "history": list, "train_seconds": (int, float), "samples_seen": int}


def _plastic_state(ensemble: Ensemble, plasticity: nn.Module | None) -> dict[str, Any]:
    """The rule's state and the current graph, for the checkpoint (nothing without a rule)."""
    if plasticity is None:
        return {}
    graph = ensemble.graph
    return {"plasticity": plasticity.state_dict(),
            "graph": {"edge_index": graph.edge_index, "edge_weight": graph.edge_weight}}


def _resume(path: Checkpoint, ensemble: Ensemble, objective: nn.Module,
            optimizer: SlicedNAdam, identity: dict[str, Any] | None, config: TrainConfig,
            device: torch.device, plasticity: nn.Module | None = None) -> TrainResult:
    """Load ``path`` into the model and optimiser after checking it; nothing is modified on
    disk, and nothing in memory until every check has passed."""
    state = path.read(device, optimizer)
    saved = state.get("identity")
    if saved is None and "fingerprint" in state:  # checkpoints written before identities
        saved = {"fingerprint": state["fingerprint"]}
    saved, given = saved or {}, identity or {}
    differences = describe_differences(saved, given, ignore=("epochs",))
    if differences:
        raise GraphensError(
            f"checkpoint {path} belongs to a different configuration ("
            + "; ".join(differences) + "); resume with the same arguments, or use a new --out "
            "directory.")
    epoch = state["epoch"]
    if config.epochs < epoch:
        raise GraphensError(
            f"checkpoint {path} has already trained {epoch} epochs but epochs={config.epochs}; "
            f"pass --epochs {epoch} or more to resume it (or a new --out to start afresh).")
    _check_shapes(path, "ensemble", ensemble.state_dict(), state["ensemble"])
    _check_shapes(path, "objective", objective.state_dict(), state["objective"])
    if plasticity is not None and not isinstance(state.get("graph"), Mapping):
        raise GraphensError(f"checkpoint {path} was written without plasticity (no graph "
                            f"saved); {_LEFT_ALONE}.")
    try:
        optimizer.load_state_dict(dict(state["optimizer"]))
    except (ValueError, KeyError, RuntimeError) as err:
        raise GraphensError(
            f"checkpoint {path} holds optimiser state of another model "
            f"({_first_line(err)}); {_LEFT_ALONE}.") from None
    ensemble.load_state_dict(state["ensemble"])
    objective.load_state_dict(state["objective"])
    if plasticity is not None:
        plasticity.load_state_dict(state["plasticity"])
        ensemble.graph.edge_index = state["graph"]["edge_index"]
        ensemble.graph.edge_weight = state["graph"]["edge_weight"]
    first = state.get("first_loss")
    return TrainResult(epochs_run=epoch, history=[float(v) for v in state["history"]],
                       train_seconds=float(state["train_seconds"]),
                       samples_seen=int(state["samples_seen"]), resumed_from=epoch,
                       first_loss=None if first is None else float(first))


class Checkpoint(Protocol):
    """Where training state goes after every epoch and comes back from on resume.

    ``write(state, optimizer)`` receives the state dict :func:`train` builds (``format``,
    ``epoch``, ``identity``, ``ensemble``, ``objective``, ``optimizer``, ``history``,
    ``train_seconds``, ``samples_seen``, ``first_loss``, ``config``); ``read(device,
    optimizer)`` returns one, checked; ``str(checkpoint)`` names it in messages.
    """

    def exists(self) -> bool: ...

    def read(self, device: torch.device, optimizer: SlicedNAdam) -> dict[str, Any]: ...

    def write(self, state: dict[str, Any], optimizer: SlicedNAdam) -> None: ...


@dataclass(frozen=True)
class FileCheckpoint:
    """One checkpoint file, written atomically (:func:`graphens.io.atomic_torch_save`)."""

    path: Path

    def __str__(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    def read(self, device: torch.device, optimizer: SlicedNAdam | None = None,
             ) -> dict[str, Any]:
        return read_checkpoint(self.path, device)

    def write(self, state: dict[str, Any], optimizer: SlicedNAdam | None = None) -> None:
        atomic_torch_save(self.path, state)


def as_checkpoint(checkpoint: str | Path | Checkpoint | None) -> Checkpoint | None:
    """A path becomes a :class:`FileCheckpoint`; a :class:`Checkpoint` passes through."""
    if checkpoint is None or hasattr(checkpoint, "write"):
        return checkpoint  # type: ignore[return-value]
    return FileCheckpoint(Path(checkpoint))


def read_checkpoint(path: Path, device: torch.device) -> dict[str, Any]:
    """The state saved in the checkpoint file ``path``, after checking it is one (a damaged or
    foreign file is a one-line error, and is never modified)."""
    if path.is_dir():
        raise GraphensError(f"checkpoint {path} is a directory, not a checkpoint file; "
                            f"{_LEFT_ALONE}.")
    if path.stat().st_size == 0:
        raise GraphensError(f"checkpoint {path} is empty (a write was cut short?); "
                            f"{_LEFT_ALONE}.")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # any failure to unpickle means a damaged file
        raise GraphensError(
            f"checkpoint {path} cannot be read, it is truncated, corrupted or not a torch file "
            f"({type(err).__name__}); {_LEFT_ALONE}.") from None
    if not isinstance(state, Mapping):
        raise GraphensError(f"checkpoint {path} is not a graphens training checkpoint (it "
                            f"holds a {type(state).__name__}); {_LEFT_ALONE}.")
    missing = [key for key in _REQUIRED if key not in state]
    wrong = [key for key, kind in _REQUIRED.items()
             if key in state and (not isinstance(state[key], kind)
                                  or isinstance(state[key], bool))]
    if missing or wrong or state.get("format", CHECKPOINT_FORMAT) != CHECKPOINT_FORMAT:
        what = (f"missing {', '.join(missing)}" if missing
                else f"bad {', '.join(wrong)}" if wrong else f"format {state.get('format')!r}")
        raise GraphensError(f"checkpoint {path} is not a graphens training checkpoint "
                            f"({what}); {_LEFT_ALONE}.")
    if state["epoch"] < 0 or len(state["history"]) != state["epoch"]:
        raise GraphensError(f"checkpoint {path} is inconsistent (epoch {state['epoch']} with "
                            f"{len(state['history'])} epoch losses); {_LEFT_ALONE}.")
    return dict(state)


def _check_shapes(path: Path, name: str, mine: Mapping[str, Tensor],
                  saved: Mapping[str, Any]) -> None:
    """Refuse ``saved`` unless it has exactly the keys and tensor shapes of ``mine``."""
    problems = [f"{key} missing" for key in mine if key not in saved]
    problems += [f"unexpected {key}" for key in saved if key not in mine]
    problems += [f"{key} is {list(saved[key].shape)} there, {list(mine[key].shape)} here"
                 if isinstance(saved[key], Tensor) else f"{key} is not a tensor"
                 for key in mine if key in saved
                 and not (isinstance(saved[key], Tensor) and saved[key].shape == mine[key].shape)]
    if problems:
        shown = ", ".join(problems[:3]) + (f", and {len(problems) - 3} more"
                                           if len(problems) > 3 else "")
        raise GraphensError(f"checkpoint {path} holds {name} weights of another architecture "
                            f"({shown}); {_LEFT_ALONE}.")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:160] if text else type(err).__name__
