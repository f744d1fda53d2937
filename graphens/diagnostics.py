r"""Say when training did not work: a flat loss, a diverging loss, agreement at chance.

A run that learned nothing still ends normally (its numbers are real numbers), so
:func:`training_warnings` reads the loss history and the decoded agreement and returns one line
per problem, naming the likely cause. :func:`graphens.experiment.run` emits each as a
:class:`~graphens.errors.GraphensWarning` and records it in ``results.json["warnings"]``.

Rules (``L_0`` the loss of the first step, ``L_T`` the mean loss of the last epoch):

* diverged: :math:`L_T > 10 |L_0| + 1` — the learning rate is too high;
* flat: :math:`L_0 - L_T < 0.01 \max(|L_0|, 10^{-8})` — with the CLoSeR softmax this is
  almost always τ (too large: every candidate looks alike; too small: the logits saturate), else
  the learning rate;
* agreement at chance: mean agreement :math:`\le 1.5/B` after CLoSeR training.
"""

from __future__ import annotations

import math
from typing import Any

from graphens.config import RunConfig

#: τ outside this range makes the CLoSeR softmax flat or saturated for typical embeddings.
USUAL_TAU = (1e-3, 1e3)


def tau_warning(config: RunConfig) -> str | None:
    """A warning, before training, for a τ that CLoSeR cannot train with."""
    if not _uses_tau(config):
        return None
    low, high = USUAL_TAU
    if config.tau > high:  # type: ignore[operator]
        return (f"tau={config.tau:g} makes the CLoSeR softmax flat (every candidate looks "
                "alike), so the loss cannot fall; the paper uses 10, digits train with 0.05 "
                "and Fashion-MNIST with 0.1.")
    if config.tau < low:  # type: ignore[operator]
        return (f"tau={config.tau:g} saturates the CLoSeR softmax (logits of order 1/tau); "
                "the paper uses 10, digits train with 0.05 and Fashion-MNIST with 0.1.")
    return None


def training_warnings(config: RunConfig, history: list[float], first_loss: float | None,
                      decoded: dict[str, Any]) -> list[str]:
    """One line per sign that training did not work (see the module docstring)."""
    found: list[str] = []
    if config.trains and history and first_loss is not None and math.isfinite(first_loss):
        last = history[-1]
        epochs = len(history)
        if last > 10 * abs(first_loss) + 1:
            found.append(f"the loss diverged ({first_loss:.4g} at the first step, {last:.4g} "
                         f"in epoch {epochs}): lower --lr (now {config.lr:g}).")
        elif first_loss - last < 0.01 * max(abs(first_loss), 1e-8):
            cause = _flat_loss_cause(config)
            found.append(f"the loss did not fall ({first_loss:.5g} at the first step, "
                         f"{last:.5g} after {epochs} epoch(s)): {cause}.")
    agreement = (decoded.get("agreement") or {}).get("mean")
    chance = decoded.get("agreement_chance")
    if (config.trains and config.baseline == "closer" and config.objective == "closer"
            and agreement is not None and chance and agreement <= 1.5 * chance):
        found.append(f"agreement {agreement:.4f} is at chance ({chance:.4f}): the nodes did not "
                     f"learn a shared code; check --tau (now {config.tau:g}), --lr and --epochs.")
    return found


def _flat_loss_cause(config: RunConfig) -> str:
    if not _uses_tau(config):
        return f"check --lr (now {config.lr:g}) and --epochs"
    if tau_warning(config) is not None:
        return (f"tau={config.tau:g} is the likely cause (the paper uses 10; graphens' defaults "
                "are 0.01 for digits, 0.1 for other images)")
    return f"check --tau (now {config.tau:g}) and --lr (now {config.lr:g})"


def _uses_tau(config: RunConfig) -> bool:
    return config.baseline == "closer" and config.objective in ("closer", "temporal-contrastive")
