"""The training loop: the paper's optimiser, seeded epochs, atomic checkpoints, resume.

Every epoch draws its shuffling, augmentation and dropout from generators derived from
``(seed, epoch)``, and a checkpoint is written atomically at the end of every epoch. Resuming
from the checkpoint of epoch ``e`` therefore replays epochs ``e+1...`` exactly as an
uninterrupted run would, and reaches the same weights.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from graphens.augment import augment_images
from graphens.ensemble import Ensemble
from graphens.errors import GraphensError
from graphens.graph import validate_graph
from graphens.io import atomic_torch_save
from graphens.optim import SlicedNAdam


@dataclass
class TrainConfig:
    """Optimisation settings; defaults are the paper's (``method.md`` §5)."""

    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    eps: float = 1e-7
    augment: bool = True
    seed: int = 0
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise GraphensError(f"epochs={self.epochs} must be >= 0.")
        if self.batch_size < 2:
            raise GraphensError(
                f"batch_size={self.batch_size}: the contrastive loss needs batches of >= 2.")
        if not self.lr > 0:
            raise GraphensError(f"lr={self.lr} must be > 0.")


@dataclass
class TrainResult:
    """What training produced, besides the weights it left in the ensemble."""

    epochs_run: int
    history: list[float] = field(default_factory=list)  #: mean loss per epoch
    train_seconds: float = 0.0
    samples_seen: int = 0

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


def derive_seed(seed: int, *parts: int) -> int:
    """A stable 63-bit seed for a sub-stream (epoch, purpose) of the run's seed."""
    digest = hashlib.sha256(json.dumps([int(seed), *map(int, parts)]).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def fingerprint(obj: object) -> str:
    """Short hash of a JSON-serialisable config, to refuse resuming a different run."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def train(ensemble: Ensemble, objective: nn.Module, x: Tensor, y: Tensor | None = None, *,
          config: TrainConfig | None = None, image_shape: tuple[int, int, int] | None = None,
          checkpoint: str | Path | None = None, resume: bool = False,
          run_fingerprint: str | None = None) -> TrainResult:
    """Train ``ensemble`` (and ``objective``'s own parameters, if any) on ``x``.

    Parameters
    ----------
    ensemble : Ensemble
        The model; its graph decides who supervises whom at every step.
    objective : nn.Module
        ``objective(z, y, graph) -> loss``, e.g. :class:`graphens.objectives.CLoSeRObjective`.
    x, y : Tensor
        Training inputs ``[n, S]`` and, for objectives that need them, labels ``[n]``.
    config : TrainConfig
        Optimiser and loop settings (NAdam, lr 1e-3, eps 1e-7, batch 128 by default).
    image_shape : (H, W, C), optional
        When given and ``config.augment``, every image is augmented once per step before the
        split into receptive fields (flip, rotation ±7.2°, zoom ±20 %).
    checkpoint : path, optional
        Written atomically after every epoch.
    resume : bool
        Continue from ``checkpoint`` if it exists (it must come from the same run).
    run_fingerprint : str, optional
        Identity of the run's configuration, stored in the checkpoint and checked on resume.
    """
    config = config or TrainConfig()
    if getattr(objective, "needs_labels", False) and y is None:
        raise GraphensError("this objective needs labels (supervised baseline) but y is None.")
    if y is not None and y.shape[0] != x.shape[0]:
        raise GraphensError(f"x has {x.shape[0]} rows but y has {y.shape[0]} labels.")
    if x.shape[0] < 2:
        raise GraphensError(f"need at least 2 training samples; got {x.shape[0]}.")
    validate_graph(ensemble.graph, require_edges=not getattr(objective, "needs_labels", False),
                   stop_gradient=getattr(objective, "stop_gradient", None),
                   num_signals=x.shape[1])
    device = resolve_device(config.device)
    ensemble.to(device)
    objective.to(device)
    params = [*ensemble.parameters(), *objective.parameters()]
    optimizer = SlicedNAdam(params, lr=config.lr, eps=config.eps)
    result = TrainResult(epochs_run=0)
    start_epoch = 0
    if resume and checkpoint is not None and Path(checkpoint).exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        if state.get("fingerprint") != run_fingerprint:
            raise GraphensError(
                f"checkpoint {checkpoint} belongs to a different configuration "
                f"({state.get('fingerprint')} != {run_fingerprint}); resume with the same "
                "arguments, or use a new --out directory.")
        ensemble.load_state_dict(state["ensemble"])
        objective.load_state_dict(state["objective"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = state["epoch"]
        result = TrainResult(epochs_run=start_epoch, history=state["history"],
                             train_seconds=state["train_seconds"],
                             samples_seen=state["samples_seen"])
    x_device = x.to(device)
    y_device = y.to(device) if y is not None else None
    use_augment = config.augment and image_shape is not None
    ensemble.train()
    for epoch in range(start_epoch, config.epochs):
        torch.manual_seed(derive_seed(config.seed, epoch, 0))  # dropout stream
        generator = torch.Generator().manual_seed(derive_seed(config.seed, epoch, 1))
        order = torch.randperm(x.shape[0], generator=generator)
        batches = [b for b in order.split(config.batch_size) if b.numel() >= 2]
        total, seen = 0.0, 0
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch",
                   disable=not config.progress, leave=False)
        tick = time.perf_counter()
        for rows in bar:
            xb = x_device[rows.to(device)]
            if use_augment:
                xb = augment_images(xb.cpu(), image_shape, generator=generator).to(device)
            yb = y_device[rows.to(device)] if y_device is not None else None
            loss = objective(ensemble(xb), yb, ensemble.graph)
            if not torch.isfinite(loss):
                raise GraphensError(
                    f"the loss became {float(loss)} at epoch {epoch + 1}; lower --lr or check "
                    "the inputs for extreme values.")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * rows.numel()
            seen += rows.numel()
            bar.set_postfix(loss=f"{total / seen:.4f}",
                            samples_s=f"{seen / max(time.perf_counter() - tick, 1e-9):.0f}")
        bar.close()
        result.train_seconds += time.perf_counter() - tick
        result.samples_seen += seen
        result.history.append(total / max(seen, 1))
        result.epochs_run = epoch + 1
        if checkpoint is not None:
            atomic_torch_save(checkpoint, {
                "epoch": epoch + 1, "fingerprint": run_fingerprint,
                "ensemble": ensemble.state_dict(), "objective": objective.state_dict(),
                "optimizer": optimizer.state_dict(), "history": result.history,
                "train_seconds": result.train_seconds, "samples_seen": result.samples_seen,
                "config": asdict(config)})
    ensemble.eval()
    return result
