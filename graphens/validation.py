"""Every check of user input, in one place: config fields, graphs, edges, embeddings.

Two kinds of check live here.

* **Declarative field constraints** (in the manner of scikit-learn's ``_parameter_constraints``):
  a config class lists, per field, the constraints its value must meet (:class:`Interval`,
  :class:`Options`, a type such as ``str``, or ``None``), and :func:`check_fields` checks all of
  them when the config is made. A failure is one :class:`~graphens.errors.GraphensError` that
  names the field, the bad value and what is allowed.
* **Tensor checks** shared by the graph, the loss, evaluation and the metrics: edge indices,
  edge weights and embeddings (see the second half of this module).

Nothing here imports torch at module level beyond what the tensor checks need, and nothing
imports from the command line.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphens.errors import GraphensError

# --------------------------------------------------------------------------------------------
# Declarative field constraints
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A number in ``[low, high]`` (``None``: unbounded), ``closed`` on the named sides.

    ``kind`` is ``"int"`` (a true integer, not a bool or a float such as 1.5) or ``"real"``
    (any finite real number; ints accepted). NaN and infinities are always refused.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    closed: str = "both"  # "both", "left", "right", "neither"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.kind == "int":
            if not isinstance(value, numbers.Integral):
                return False
        elif not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            return False
        if self.low is not None and (
                value < self.low or (value == self.low and self.closed in ("right", "neither"))):
            return False
        if self.high is not None:
            return not (value > self.high
                        or (value == self.high and self.closed in ("left", "neither")))
        return True

    def __str__(self) -> str:
        noun = "an integer" if self.kind == "int" else "a finite number"
        if self.low is None and self.high is None:
            return noun
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        return f"{noun} in {left}{_bound(self.low, '-inf')}, {_bound(self.high, 'inf')}{right}"


def _bound(value: float | None, unbounded: str) -> str:
    if value is None:
        return unbounded
    if isinstance(value, int) and abs(value) >= 2**31:
        return f"2**{value.bit_length()} - 1" if value == 2**value.bit_length() - 1 else str(value)
    return f"{value:g}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values."""

    choices: tuple[Any, ...]

    def accepts(self, value: Any) -> bool:
        return any(value == choice and type(value) is type(choice) for choice in self.choices)

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(choice) for choice in self.choices)


@dataclass(frozen=True)
class SequenceOf:
    """A non-empty list or tuple whose items all meet ``item``."""

    item: Interval | Options

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, (list, tuple)) and len(value) > 0
                and all(self.item.accepts(v) for v in value))

    def __str__(self) -> str:
        return f"a non-empty list of {self.item}"


Constraint = Any  # Interval | Options | SequenceOf | type | None


def _accepts(constraint: Constraint, value: Any) -> bool:
    if constraint is None:
        return value is None
    if isinstance(constraint, type):
        return isinstance(value, constraint) and not (
            constraint is not bool and isinstance(value, bool))
    return constraint.accepts(value)


def _describe(constraint: Constraint) -> str:
    if constraint is None:
        return "None"
    if isinstance(constraint, type):
        return {dict: "a mapping", str: "a string", bool: "true or false"}.get(
            constraint, f"a {constraint.__name__}")
    return str(constraint)


def check_value(name: str, value: Any, constraints: Sequence[Constraint],
                hint: str = "") -> Any:
    """Return ``value`` if it meets one of ``constraints``; else raise naming all of them."""
    if any(_accepts(constraint, value) for constraint in constraints):
        return value
    allowed = " or ".join(_describe(constraint) for constraint in constraints)
    raise GraphensError(f"{name}={value!r} is not valid: it must be {allowed}"
                        + (f" ({hint})." if hint else "."))


def check_fields(values: Mapping[str, Any], constraints: Mapping[str, Sequence[Constraint]],
                 hints: Mapping[str, str] | None = None, owner: str = "") -> None:
    """Check every field of ``values`` that ``constraints`` names (see :func:`check_value`)."""
    hints = hints or {}
    for name, allowed in constraints.items():
        if name in values:
            check_value(f"{owner}.{name}" if owner else name, values[name], allowed,
                        hints.get(name, ""))


#: Seeds are stored as 63-bit integers by every generator graphens derives from them.
SEED_RANGE = Interval("int", 0, 2**63 - 1)


def describe_differences(old: Mapping[str, Any], new: Mapping[str, Any],
                         ignore: Iterable[str] = ()) -> list[str]:
    """``["tau: 10.0 -> 0.05", ...]`` for every key whose value differs (``ignore`` skipped)."""
    skipped = set(ignore)
    missing = object()
    lines = []
    for key in sorted(set(old) | set(new)):
        if key in skipped:
            continue
        before, after = old.get(key, missing), new.get(key, missing)
        if _normalised(before) != _normalised(after):
            show = ["(absent)" if v is missing else repr(v) for v in (before, after)]
            lines.append(f"{key}: {show[0]} -> {show[1]}")
    return lines


def _normalised(value: Any) -> Any:
    # JSON round trips turn tuples into lists; compare them as equal.
    if isinstance(value, (list, tuple)):
        return [_normalised(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _normalised(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------------------------
# Tensor checks: edges, weights, embeddings (shared by graph, loss, evaluate, metrics)
# --------------------------------------------------------------------------------------------
#
# Each check raises one GraphensError naming the bad value and the fix, before any compute;
# each costs at most one pass over its tensor and one host synchronisation.


class CheckedTensors:
    """The tensors a value check last passed, so a per-step caller checks each tensor once.

    A value check (no negative ids, finite weights, ...) reads the tensor back to the host: on a
    GPU that is a synchronisation, which at every training step stalls the device. A tensor
    counts as checked while it is the same object at the same version (an in-place edit bumps
    ``Tensor._version``); ``context`` holds whatever else the check depended on (``num_nodes``).
    Strong references are kept, so a freed tensor's address can never pass for it.

    Examples
    --------
    >>> import torch
    >>> memo, edges = CheckedTensors(), torch.tensor([[0, 1], [1, 0]])
    >>> memo.holds(2, edges)
    False
    >>> memo.add(2, edges)
    >>> memo.holds(2, edges), memo.holds(3, edges)
    (True, False)
    >>> _ = edges.add_(0)  # an in-place edit: checked again
    >>> memo.holds(2, edges)
    False
    """

    def __init__(self) -> None:
        self._seen: tuple[Any, ...] = ()

    @staticmethod
    def _key(context: Any, tensors: tuple[Any, ...]) -> tuple[Any, ...]:
        return (context, *((t, getattr(t, "_version", None)) for t in tensors))

    def holds(self, context: Any, *tensors: Any) -> bool:
        """Whether ``tensors`` (in this order, under ``context``) are the ones last added."""
        key = self._key(context, tensors)
        return len(key) == len(self._seen) and key[0] == self._seen[0] and all(
            a is b and u == v for (a, u), (b, v) in zip(key[1:], self._seen[1:], strict=True))

    def add(self, context: Any, *tensors: Any) -> None:
        """Remember ``tensors`` (under ``context``) as checked."""
        self._seen = self._key(context, tensors)


def check_edge_index(edge_index: Any, num_nodes: int, *, name: str = "edge_index",
                     self_loops: bool = True) -> Any:
    r"""Check an edge index ``[2, E]`` against ``num_nodes`` and return it as ``long``.

    Row 0 holds the teachers :math:`j`, row 1 the students :math:`i`; every id must satisfy
    :math:`0 \le j, i < N`.

    Parameters
    ----------
    edge_index : Tensor
        ``[2, E]`` integer tensor.
    num_nodes : int
        :math:`N`.
    name : str
        How the message names the tensor.
    self_loops : bool
        Whether edges :math:`i \to i` are allowed; the ensemble graph forbids them
        (:math:`g_{ii} = 0`: a node cannot supervise itself).

    Returns
    -------
    Tensor
        ``edge_index`` as ``torch.long`` (the same tensor when it already is).

    Examples
    --------
    >>> import torch
    >>> check_edge_index(torch.tensor([[0, 1], [1, 0]]), 2).dtype
    torch.int64
    """
    import torch

    if not isinstance(edge_index, torch.Tensor):
        raise GraphensError(
            f"{name} must be a torch.Tensor of shape [2, E], got {type(edge_index).__name__}; "
            "convert it with torch.as_tensor(...).")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise GraphensError(
            f"{name} must have shape [2, E] (row 0 teacher, row 1 student); got "
            f"{tuple(edge_index.shape)}. Stack (teacher, student) pairs as columns.")
    if edge_index.is_floating_point() or edge_index.is_complex() \
            or edge_index.dtype == torch.bool:
        raise GraphensError(
            f"{name} must be an integer tensor, got dtype {edge_index.dtype}; use .long().")
    edge_index = edge_index.long()
    if edge_index.numel():
        bad = (edge_index < 0) | (edge_index >= num_nodes)
        if bool(bad.any()):
            col = int(bad.any(0).nonzero()[0])
            raise GraphensError(
                f"{name}: edge {col} ({int(edge_index[0, col])} -> {int(edge_index[1, col])}) "
                f"refers to a node outside [0, {num_nodes - 1}]: node ids must lie in "
                f"[0, {num_nodes - 1}] (num_nodes={num_nodes}); fix the edges or num_nodes.")
        if not self_loops:
            loops = (edge_index[0] == edge_index[1]).nonzero().flatten()
            if loops.numel():
                nodes = edge_index[0, loops].tolist()
                raise GraphensError(
                    f"self-loops at node(s) {nodes[:10]}: a node cannot supervise itself "
                    "(g_ii = 0); remove them, e.g. with torch_geometric.utils.remove_self_loops.")
    return edge_index


def check_edge_weight(edge_weight: Any, num_edges: int, *, edge_index: Any = None,
                      name: str = "edge_weight") -> Any:
    r"""Check edge weights :math:`g_{ij}`: shape ``[E]``, finite and :math:`\ge 0`.

    Parameters
    ----------
    edge_weight : Tensor or None
        ``[E]`` weights; None (all ones) passes.
    num_edges : int
        :math:`E`, the number of columns of the edge index.
    edge_index : Tensor, optional
        ``[2, E]``; when given, a bad weight's message names its edge ``j -> i``.
    name : str
        How the message names the tensor.

    Returns
    -------
    Tensor or None
        ``edge_weight`` unchanged.
    """
    import torch

    if edge_weight is None:
        return None
    if not isinstance(edge_weight, torch.Tensor):
        raise GraphensError(
            f"{name} must be a torch.Tensor of shape [{num_edges}], got "
            f"{type(edge_weight).__name__}; convert it with torch.as_tensor(...).")
    if edge_weight.shape != (num_edges,):
        raise GraphensError(
            f"{name} has shape {tuple(edge_weight.shape)}; expected [{num_edges}] (one weight "
            "per edge).")
    if edge_weight.is_complex():
        raise GraphensError(f"{name} must be real, got dtype {edge_weight.dtype}.")
    if num_edges:
        bad = ~torch.isfinite(edge_weight) | (edge_weight < 0)
        if bool(bad.any()):
            col = int(bad.nonzero()[0])
            where = "" if edge_index is None else \
                f" on edge {int(edge_index[0, col])} -> {int(edge_index[1, col])}"
            raise GraphensError(
                f"{name}[{col}] = {float(edge_weight[col])}{where}: weights must be finite and "
                ">= 0; fix or drop that edge.")
    return edge_weight


def check_embeddings(z: Any, *, name: str = "z", axis: str = "node", min_samples: int = 2,
                     finite: bool = True) -> Any:
    r"""Check embeddings ``[N, B, D]``: :math:`N` nodes (or groups), :math:`B` samples, :math:`D`
    features.

    Parameters
    ----------
    z : Tensor
        Floating-point ``[N, B, D]`` with no empty axis.
    name, axis : str
        How the message names the tensor and its first axis (``"node"``, ``"group"``).
    min_samples : int
        Smallest :math:`B` allowed: 2 for anything contrastive (a stimulus must be told apart
        from at least one other), 1 for a plain read-out.
    finite : bool
        Also refuse NaN or infinite values, naming the affected nodes (one pass over ``z``).

    Returns
    -------
    Tensor
        ``z`` unchanged.
    """
    import torch

    if not isinstance(z, torch.Tensor):
        raise GraphensError(f"{name} must be a torch.Tensor, got {type(z).__name__}.")
    if z.dim() != 3:
        raise GraphensError(
            f"{name} must have shape [{axis}s, samples, features] ([N, B, D]); got "
            f"{tuple(z.shape)}.")
    if not z.is_floating_point():
        raise GraphensError(f"{name} must be a floating-point tensor, got dtype {z.dtype}.")
    if 0 in z.shape:
        raise GraphensError(f"{name} has an empty axis, shape {tuple(z.shape)}.")
    if z.shape[1] < min_samples:
        raise GraphensError(
            f"{name} has {z.shape[1]} sample(s) per {axis}; this needs B >= {min_samples} "
            "stimuli in a batch: pass a larger batch.")
    if finite:
        ok = torch.isfinite(z).flatten(1).all(dim=1)
        if not bool(ok.all()):
            bad = (~ok).nonzero().flatten().tolist()
            raise GraphensError(
                f"{name} has NaN or infinite values in {axis}(s) {bad}; fix those embeddings "
                "first.")
    return z
