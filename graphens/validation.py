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
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{noun} in {left}{low}, {high}{right}"


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


def unknown_keys(given: Iterable[str], known: Iterable[str], what: str) -> None:
    """Raise naming the keys of ``given`` that are not in ``known``, with the valid ones."""
    known = list(known)
    bad = [key for key in given if key not in known]
    if bad:
        raise GraphensError(f"unknown {what} {', '.join(map(repr, bad))}; valid: "
                            f"{', '.join(known)}.")


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
