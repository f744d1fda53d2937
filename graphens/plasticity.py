r"""Plastic topologies: rules that rewire or reweight the ensemble graph while it trains.

The ensemble reads its graph (``edge_index`` ``[2, E]``, row 0 = teacher :math:`j`, row 1 =
student :math:`i`; ``edge_weight`` :math:`g_{ij}`) at every step, so a rule that edits the graph
in place changes the topology trained at the next step. A rule is a small seeded
``nn.Module`` that :func:`graphens.train.train` calls after every optimiser step
(:meth:`PlasticityRule.after_step`) and at the end of every epoch
(:meth:`PlasticityRule.after_epoch`); it updates the graph every ``every`` steps or epochs
(``unit``).

Per-edge statistics
-------------------
While a rule is attached, :class:`graphens.objectives.CLoSeRObjective` computes the loss as
``closer_loss(..., reduction="none")`` (the ``[E]`` terms :math:`L_{ij}`, at the cost of the
summed loss) and keeps them detached; the rule folds them into bias-corrected exponential
running means on the device, without a host synchronisation (the host reads them only when the
graph is edited):

.. math::

    \bar L_{ij} = \frac{\sum_t \mu^{T-t} (1-\mu) L_{ij}(t)}{\sum_t \mu^{T-t} (1-\mu)}, \qquad
    \bar a_{ij} = \text{the same mean of } e^{-L_{ij}(t)}

with ``momentum`` :math:`\mu`. :math:`e^{-L_{ij}}` is the geometric mean over the batch's
anchors of :math:`p_{ij}(c)`, the probability the student's softmax gives the right stimulus:
a soft **agreement** score (chance :math:`1/B`), used instead of the hard argmax agreement of
``method.md`` §6, which would need the ``[E, B, B]`` logits the loss does not return.

Rules (registry :data:`PLASTICITY_RULES`)
-----------------------------------------
``rewire`` (:class:`Rewire`)
    Sparse evolutionary training at a fixed edge budget (SET, Mocanu et al. 2018; RigL, Evci
    et al. 2020): at each update the weakest ``round(f(t) E)`` edges are pruned and as many
    absent pairs grown, with :math:`f(t) = f_0 \cdot \tfrac12 (1 + \cos(\pi t / T))`
    (``decay="cosine"``, RigL), :math:`f_0 (1 - t/T)` (``"linear"``) or :math:`f_0`
    (``"constant"``, SET).
``learn`` (:class:`LearnedWeights`)
    Edge weights as trainable logits :math:`\theta_{ij}` over a candidate edge set, normalised
    per student, :math:`g_{ij} = b_i\,\mathrm{softmax}_j(\theta_{\cdot i})`, with :math:`b_i`
    the student's initial incoming weight, and an entropy penalty
    :math:`\lambda \frac{1}{N}\sum_i H(\mathrm{softmax}(\theta_{\cdot i}))` added to the loss,
    so each node learns whom to listen to.
``hebbian`` (:class:`Hebbian`)
    Weights follow the running agreement,
    :math:`g_{ij} \leftarrow (1-\eta) g_{ij} + \eta\, \bar g_0\, \bar a_{ij} / \langle \bar a
    \rangle`, and edges whose weight falls below ``threshold`` :math:`\cdot \bar g_0` are
    dropped (and optionally regrown elsewhere).

Every rule keeps the graph valid: no self-loops, no duplicate edges, finite non-negative
weights, and no node left without a teacher unless ``allow_untaught=True`` (a node that no one
teaches never trains under the teacher-side stop-gradient); rewiring and regrowth first give a
teacher to any node that has none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import softmax as group_softmax

from graphens.errors import GraphensError
from graphens.validation import SEED_RANGE, Interval, Options, check_value

#: Seed stream of every rule's random choices (mixed with the update's index).
SEED_STREAM = 101

_EVERY = (1, [Interval("int", 1, None)], "update the graph every this many steps or epochs")
_UNIT = ("epoch", [Options(("epoch", "step"))], "what `every` counts")
_MOMENTUM = (0.9, [Interval("real", 0, 1, closed="left")],
             "decay of the per-edge running means; 0 keeps only the last step")
_UNTAUGHT = (False, [bool], "whether a rule may leave a node without a teacher")


class PlasticityRule(nn.Module):
    """Base class: parameter checks, per-edge statistics, schedule, history.

    Parameters
    ----------
    seed : int
        Seed of the rule's random choices (each update draws from
        ``derive_seed(seed, SEED_STREAM, update)``, so a resumed run makes the same choices).
    **params
        The rule's parameters (:attr:`PARAMS`, plus ``every``, ``unit``, ``momentum`` and
        ``allow_untaught``); checked when the rule is made.
    """

    name: ClassVar[str] = ""
    #: name -> (default, constraints, hint) of the rule's own parameters.
    PARAMS: ClassVar[dict[str, tuple[Any, list[Any], str]]] = {}
    COMMON: ClassVar[dict[str, tuple[Any, list[Any], str]]] = {
        "every": _EVERY, "unit": _UNIT, "momentum": _MOMENTUM, "allow_untaught": _UNTAUGHT}
    #: Record the graph at every update (False: only at epoch ends, for continuous rules).
    records_updates: ClassVar[bool] = True
    #: Whether the rule grows edges (and so gives a teacher to nodes without one).
    repairs: ClassVar[bool] = True

    def __init__(self, seed: int = 0, **params: Any) -> None:
        super().__init__()
        check_value("seed", seed, [SEED_RANGE])
        self.seed = int(seed)
        self.params = check_params(self.name, params)
        self.updates = 0
        self.history: list[dict[str, Any]] = []
        self._horizon = int(self.params.get("horizon") or 1)
        self._objective: list[nn.Module] = []  # a list: not registered as a submodule
        self._loss_sum: Tensor | None = None
        self._agree_sum: Tensor | None = None
        self._norm: Tensor | None = None

    def __getattr__(self, key: str) -> Any:
        params = self.__dict__.get("params")
        if params is not None and key in params:
            return params[key]
        return super().__getattr__(key)

    # -- the trainer's calls ------------------------------------------------------------------

    def attach(self, graph: Data, objective: nn.Module, *, epochs: int,
               steps_per_epoch: int) -> None:
        """Bind to the objective (which starts recording per-edge terms) and the graph.

        Called by :func:`graphens.train.train` before the optimiser is made, so parameters
        made here (``learn``'s logits) are optimised and restored on resume.
        """
        if not getattr(objective, "supports_edge_statistics", False):
            raise GraphensError(
                f"plasticity {self.name!r} needs per-edge losses, which "
                f"{type(objective).__name__} does not record; use the closer objective "
                "(graphens.objectives.CLoSeRObjective).")
        objective.records_edges = True
        self._objective = [objective]
        self._horizon = max(1, epochs if self.unit == "epoch" else epochs * steps_per_epoch)
        if self.params.get("horizon") is not None:
            self._horizon = int(self.params["horizon"])
        self._start(graph)
        self._exempt = set(untaught_nodes(graph)) if not self.repairs else set()
        self._reset_statistics(graph.edge_index.shape[1], graph.edge_index.device)
        if not self.history:
            self._record(graph, step=0, epoch=0)

    def after_step(self, graph: Data, step: int, epoch: int) -> None:
        """After optimiser step ``step`` (1-based, over the whole run) of epoch ``epoch``
        (0-based): fold in the step's per-edge terms; update when the schedule says so."""
        objective = self._objective[0]
        per_edge = objective.edge_loss
        if per_edge is not None and per_edge.shape[0] == self._norm.shape[0]:
            m = self.momentum
            self._loss_sum.mul_(m).add_(per_edge, alpha=1 - m)
            self._agree_sum.mul_(m).add_(torch.exp(-per_edge), alpha=1 - m)
            self._norm.mul_(m).add_(1 - m)
        self._after_step(graph)
        if self.unit == "step" and step % self.every == 0:
            self._apply(graph, step, epoch + 1, step)

    def after_epoch(self, graph: Data, step: int, epoch: int) -> None:
        """After epoch ``epoch`` (1-based: the number of epochs finished)."""
        if self.unit == "epoch" and epoch % self.every == 0:
            self._apply(graph, step, epoch, epoch)
        elif not self.records_updates:
            self._record(graph, step, epoch)

    # -- state ---------------------------------------------------------------------------------

    def get_extra_state(self) -> dict[str, Any]:
        return {"updates": self.updates, "history": self.history,
                "loss_sum": self._loss_sum, "agree_sum": self._agree_sum, "norm": self._norm,
                **self._extra_state()}

    def set_extra_state(self, state: Mapping[str, Any]) -> None:
        self.updates = int(state["updates"])
        self.history = list(state["history"])
        self._loss_sum, self._agree_sum, self._norm = (
            state["loss_sum"], state["agree_sum"], state["norm"])
        self._set_extra_state(state)

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _set_extra_state(self, state: Mapping[str, Any]) -> None:
        pass

    # -- statistics ----------------------------------------------------------------------------

    def _reset_statistics(self, num_edges: int, device: torch.device) -> None:
        self._loss_sum = torch.zeros(num_edges, device=device)
        self._agree_sum = torch.zeros(num_edges, device=device)
        self._norm = torch.zeros(num_edges, device=device)

    def edge_statistics(self) -> dict[str, Tensor]:
        """``loss`` :math:`\\bar L_{ij}` and ``agreement`` :math:`\\bar a_{ij}` per edge
        (``[E]``; NaN for edges not yet observed)."""
        norm = self._norm.where(self._norm > 0, torch.full_like(self._norm, math.nan))
        return {"loss": self._loss_sum / norm, "agreement": self._agree_sum / norm}

    def _keep_statistics(self, keep: Tensor, added: int) -> None:
        """Statistics of the kept edges (a bool mask), then ``added`` unobserved ones."""
        zeros = torch.zeros(added, device=self._norm.device)
        self._loss_sum = torch.cat([self._loss_sum[keep], zeros])
        self._agree_sum = torch.cat([self._agree_sum[keep], zeros])
        self._norm = torch.cat([self._norm[keep], zeros])

    # -- updates -------------------------------------------------------------------------------

    def _start(self, graph: Data) -> None:
        pass

    def _after_step(self, graph: Data) -> None:
        pass

    def _update(self, graph: Data, generator: torch.Generator) -> bool:
        raise NotImplementedError

    def _apply(self, graph: Data, step: int, epoch: int, elapsed: int) -> None:
        from graphens.train import derive_seed

        self._elapsed = elapsed
        generator = torch.Generator().manual_seed(
            derive_seed(self.seed, SEED_STREAM, self.updates))
        before = set(untaught_nodes(graph))
        with torch.no_grad():
            changed = self._update(graph, generator)
        self.updates += 1
        check_graph(graph, self.allow_untaught, exempt=before | self._exempt)
        if changed or not self.records_updates:
            self._record(graph, step, epoch)

    def _record(self, graph: Data, step: int, epoch: int) -> None:
        entry = {"step": int(step), "epoch": int(epoch),
                 "edge_index": graph.edge_index.cpu().tolist(),
                 "edge_weight": graph.edge_weight.detach().cpu().tolist()}
        if self.history and self.history[-1]["step"] == entry["step"]:
            self.history[-1] = entry
        else:
            self.history.append(entry)

    def _objective_loss(self) -> nn.Module:
        return self._objective[0].loss

    def summary(self, graph: Data | None = None, seed: int = 0) -> dict[str, Any]:
        """The rule, its parameters, the graph's history and its metrics over time (what
        ``results.json["plasticity"]`` holds)."""
        pos = getattr(graph, "pos", None) if graph is not None else None
        trajectory = [{"step": h["step"], "epoch": h["epoch"],
                       **history_metrics(h, graph.num_nodes if graph is not None
                                         else _nodes(h), pos, seed)}
                      for h in self.history]
        return {"rule": self.name, "params": dict(self.params), "seed": self.seed,
                "updates": self.updates, "history": self.history, "metrics": trajectory}

    def extra_repr(self) -> str:
        return f"{self.name}, seed={self.seed}, " + ", ".join(
            f"{k}={v!r}" for k, v in self.params.items())


# --------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------


class Rewire(PlasticityRule):
    r"""Prune the weakest edges and grow as many new ones, at a fixed edge budget.

    At update :math:`t` (counted in ``unit``), :math:`k = \mathrm{round}(f(t)\,E)` edges are
    pruned, the weakest first by ``criterion``:

    * ``"loss"``: highest running loss :math:`\bar L_{ij}` (the pair disagrees most);
    * ``"agreement"``: lowest running agreement :math:`\bar a_{ij}` (mean of :math:`e^{-L}`);
    * ``"gradient"``: lowest saliency :math:`|g_{ij}\,\partial L/\partial g_{ij}| = g_{ij}
      \bar L_{ij}`, the first-order change of the loss were the edge removed (Molchanov et al.
      2017): the edge that matters least to the objective;

    an edge is never pruned if it is its student's last teacher (unless
    ``allow_untaught``). As many absent ordered pairs are then grown (not the ones just
    pruned, while others are free), first one into each node without a teacher, then by
    ``grow``: ``"random"`` (uniform, SET) or ``"similarity"`` (highest :math:`e^{-L_{ij}}` of
    the last training batch, computed for every absent pair: the pairs whose embeddings
    already agree, a loss-driven growth in the spirit of RigL). New edges take the mean weight
    of the pruned ones, so the edge count and (for equal weights) the total weight are kept.

    The fraction decays over ``horizon`` units (default: the whole training):
    ``"cosine"`` :math:`f_0 \frac12 (1+\cos \pi t/T)` (RigL), ``"linear"`` :math:`f_0(1 -
    t/T)`, ``"constant"`` :math:`f_0` (SET).

    References
    ----------
    Mocanu et al., "Scalable training of artificial neural networks with adaptive sparse
    connectivity inspired by network science", Nature Communications 9, 2383 (2018).
    Evci et al., "Rigging the lottery: making all tickets winners", ICML 2020.
    """

    name = "rewire"
    PARAMS = {
        "fraction": (0.2, [Interval("real", 0, 1, closed="right")],
                     "the share of edges rewired at the first update"),
        "criterion": ("loss", [Options(("loss", "agreement", "gradient"))], ""),
        "grow": ("random", [Options(("random", "similarity"))], ""),
        "decay": ("cosine", [Options(("cosine", "linear", "constant"))], ""),
        "horizon": (None, [Interval("int", 1, None), None],
                    "units over which the fraction decays; None: the whole training"),
    }

    def fraction_at(self, elapsed: int) -> float:
        """:math:`f(t)` for ``elapsed`` = t units into training."""
        f0, progress = self.fraction, min(max(elapsed - 1, 0) / self._horizon, 1.0)
        if self.decay == "cosine":
            return f0 * 0.5 * (1 + math.cos(math.pi * progress))
        if self.decay == "linear":
            return f0 * (1 - progress)
        return f0

    def _update(self, graph: Data, generator: torch.Generator) -> bool:
        num_edges = graph.edge_index.shape[1]
        k = int(round(self.fraction_at(self._elapsed) * num_edges))
        if k == 0:
            return False
        stats = self.edge_statistics()
        if self.criterion == "loss":
            weakness = stats["loss"]
        elif self.criterion == "agreement":
            weakness = -stats["agreement"]
        else:
            weakness = -(graph.edge_weight * stats["loss"])
        prune = _weakest(graph, weakness, k, generator, self.allow_untaught)
        if not prune.any():
            return False
        new_weight = float(graph.edge_weight[prune].mean())
        return _replace(self, graph, prune, int(prune.sum()), new_weight, self.grow, generator)


class Hebbian(PlasticityRule):
    r"""Weights follow the running agreement; weak edges are dropped (and optionally regrown).

    At each update, with :math:`\bar a_{ij}` the running agreement (mean :math:`e^{-L_{ij}}`),
    :math:`\langle \bar a \rangle` its mean over the edges and :math:`\bar g_0` the initial mean
    weight,

    .. math::

        g_{ij} \leftarrow (1 - \eta)\, g_{ij} + \eta\, \bar g_0\,
                          \bar a_{ij} / \langle \bar a \rangle ,

    so edges that agree more than average grow and the total weight stays near its initial
    value (``rate`` :math:`\eta`). Edges with :math:`g_{ij} <` ``threshold``
    :math:`\cdot \bar g_0` are dropped (never a student's last teacher, unless
    ``allow_untaught``); with ``regrow="random"`` or ``"similarity"`` as many absent pairs are
    grown (as in :class:`Rewire`) with weight :math:`\bar g_0`, keeping the edge count;
    ``regrow="none"`` (default) lets the graph thin out.

    References
    ----------
    Hebb, *The Organization of Behavior* (1949); the running-average rule with decay is the
    usual rate-based form (e.g. Gerstner & Kistler, *Spiking Neuron Models*, 2002, ch. 10).
    """

    name = "hebbian"
    PARAMS = {
        "rate": (0.5, [Interval("real", 0, 1, closed="right")],
                 "how far each update moves the weights toward the agreement"),
        "threshold": (0.25, [Interval("real", 0, None)],
                      "drop edges below this multiple of the initial mean weight"),
        "regrow": ("none", [Options(("none", "random", "similarity"))], ""),
    }

    def _start(self, graph: Data) -> None:
        if not hasattr(self, "base_weight"):
            self.base_weight = float(graph.edge_weight.mean()) if graph.edge_weight.numel() \
                else 1.0

    def _extra_state(self) -> dict[str, Any]:
        return {"base_weight": self.base_weight}

    def _set_extra_state(self, state: Mapping[str, Any]) -> None:
        self.base_weight = float(state["base_weight"])

    def _update(self, graph: Data, generator: torch.Generator) -> bool:
        agreement = self.edge_statistics()["agreement"]
        seen = ~torch.isnan(agreement)
        if not seen.any():
            return False
        mean = agreement[seen].mean().clamp_min(1e-12)
        target = torch.where(seen, self.base_weight * agreement / mean, graph.edge_weight)
        graph.edge_weight = ((1 - self.rate) * graph.edge_weight + self.rate * target).clamp_min(
            0.0)
        low = graph.edge_weight < self.threshold * self.base_weight
        drop = _weakest(graph, torch.where(low, -graph.edge_weight,
                                           torch.full_like(graph.edge_weight, -math.inf)),
                        int(low.sum()), generator, self.allow_untaught)
        if self.regrow == "none":
            if not drop.any():
                return True
            keep = ~drop
            graph.edge_index = graph.edge_index[:, keep]
            graph.edge_weight = graph.edge_weight[keep]
            self._keep_statistics(keep, 0)
            _repair_untaught(self, graph, None, generator, self.base_weight)
            return True
        _replace(self, graph, drop, int(drop.sum()), self.base_weight, self.regrow, generator)
        return True


class LearnedWeights(PlasticityRule):
    r"""Edge weights as trainable parameters, normalised per student, with a sparsity penalty.

    Over a candidate set :math:`C` (``candidates="initial"``: the initial edges;
    ``"all"``: every ordered pair :math:`j \ne i`), logits :math:`\theta_{ij}` (initially 0)
    give the weights used in the loss

    .. math::

        g_{ij} = b_i \, \frac{e^{\theta_{ij}}}{\sum_{k:(k,i) \in C} e^{\theta_{ki}}}
        \qquad (\texttt{torch\_geometric.utils.softmax over each student's teachers})

    with :math:`b_i` the student's initial incoming weight (the mean of the positive ones for a
    student that had no teacher), so the total weight is the initial budget. The objective
    adds ``sparsity`` :math:`\cdot \frac{1}{N_s}\sum_i H_i`, the mean entropy of the
    students' softmaxes (:math:`N_s` students with candidates): a positive ``sparsity`` pushes
    each node to listen to few teachers. The logits are optimised with the encoders (same NAdam)
    and saved in the checkpoint; ``graph.edge_weight`` is set from them after every step and
    the graph is recorded at each epoch's end (``every``/``unit`` are unused).

    With ``candidates="initial"`` the edge set never changes (a node the initial graph leaves
    without a teacher keeps none); ``"all"`` trains every pair (the cost of all-to-all).

    References
    ----------
    The softmax-normalised, entropy-regularised edge weights follow learned graph attention
    (Veličković et al., "Graph attention networks", ICLR 2018) and differentiable architecture
    weights (Liu et al., "DARTS", ICLR 2019).
    """

    name = "learn"
    records_updates = False
    repairs = False
    PARAMS = {
        "candidates": ("initial", [Options(("initial", "all"))], ""),
        "sparsity": (0.0, [Interval("real", 0, None)],
                     "weight of the entropy penalty; 0 for none"),
    }

    def _start(self, graph: Data) -> None:
        n = graph.num_nodes
        if self.candidates == "all":
            full = torch.ones(n, n, dtype=torch.bool).fill_diagonal_(False).nonzero().t()
            candidates = full.to(graph.edge_index.device)
        else:
            candidates = graph.edge_index.clone()
        incoming = torch.zeros(n, device=graph.edge_weight.device).index_add_(
            0, graph.edge_index[1], graph.edge_weight.float())
        positive = incoming[incoming > 0]
        fill = positive.mean() if positive.numel() else torch.tensor(1.0)
        if not hasattr(self, "candidate_index"):
            self.candidate_index = candidates
            self.budget = torch.where(incoming > 0, incoming, fill)
            self.logits = nn.Parameter(torch.zeros(candidates.shape[1],
                                                   device=graph.edge_weight.device))
        graph.edge_index = self.candidate_index
        graph.edge_weight = self.weights().detach()

    def _extra_state(self) -> dict[str, Any]:
        return {"candidate_index": self.candidate_index, "budget": self.budget}

    def _set_extra_state(self, state: Mapping[str, Any]) -> None:
        self.candidate_index, self.budget = state["candidate_index"], state["budget"]

    def probabilities(self) -> Tensor:
        """Per-student softmax of the logits over its candidate teachers, ``[C]``."""
        student = self.candidate_index[1]
        return group_softmax(self.logits, student, num_nodes=self.budget.shape[0])

    def weights(self) -> Tensor:
        """The weights used in the loss, ``[C]``: softmax times the student's budget."""
        return self.probabilities() * self.budget[self.candidate_index[1]]

    def penalty(self) -> Tensor:
        """``sparsity`` times the mean entropy of the students' softmaxes."""
        p = self.probabilities()
        entropy = -(p * torch.log(p.clamp_min(1e-30)))
        students = torch.unique(self.candidate_index[1]).numel()
        return self.sparsity * entropy.sum() / max(students, 1)

    def edge_weights(self, graph: Data) -> tuple[Tensor, Tensor | None]:
        """What the objective uses instead of ``graph.edge_weight``: the learnable weights
        and the penalty (None when ``sparsity`` is 0)."""
        return self.weights(), (self.penalty() if self.sparsity > 0 else None)

    def attach(self, graph: Data, objective: nn.Module, **kwargs: Any) -> None:
        super().attach(graph, objective, **kwargs)
        objective.edge_weight_fn = self.edge_weights

    def _after_step(self, graph: Data) -> None:
        graph.edge_weight = self.weights().detach()

    def _update(self, graph: Data, generator: torch.Generator) -> bool:
        return False


#: Rule name -> class. A new rule is one class above and one entry here.
PLASTICITY_RULES: dict[str, type[PlasticityRule]] = {
    "rewire": Rewire,
    "learn": LearnedWeights,
    "hebbian": Hebbian,
}


# --------------------------------------------------------------------------------------------
# Making and checking
# --------------------------------------------------------------------------------------------


def check_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The full parameters of rule ``name``: defaults, then ``params``, each checked."""
    cls = _rule_class(name)
    if not isinstance(params, Mapping):
        raise GraphensError(f"plasticity_params={params!r} must be a mapping, e.g. "
                            "{'fraction': 0.2}.")
    spec = {**PlasticityRule.COMMON, **cls.PARAMS}
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise GraphensError(f"plasticity {name!r} has no parameter(s) {unknown}; it accepts "
                            f"{sorted(spec)}.")
    values = {key: default for key, (default, _, _) in spec.items()}
    for key, value in params.items():
        _, constraints, hint = spec[key]
        value = check_value(key, value, constraints, hint)
        if isinstance(value, int) and not isinstance(value, bool) and any(
                isinstance(c, Interval) and c.kind == "real" for c in constraints):
            value = float(value)
        values[key] = value
    return values


def _rule_class(name: Any) -> type[PlasticityRule]:
    if name not in PLASTICITY_RULES:
        raise GraphensError(f"unknown plasticity rule {name!r}; choose one of "
                            f"{', '.join(sorted(PLASTICITY_RULES))} (or None for a static "
                            "graph).")
    return PLASTICITY_RULES[name]


def make_rule(name: str, seed: int = 0, **params: Any) -> PlasticityRule:
    """The rule ``name`` of :data:`PLASTICITY_RULES` with ``params``, checked now."""
    return _rule_class(name)(seed=seed, **params)


def untaught_nodes(graph: Data) -> list[int]:
    """Nodes with no incoming edge."""
    taught = torch.zeros(graph.num_nodes, dtype=torch.bool)
    taught[graph.edge_index[1].cpu()] = True
    return (~taught).nonzero().flatten().tolist()


def check_graph(graph: Data, allow_untaught: bool = False, exempt: Any = ()) -> None:
    """Raise unless the graph has no self-loops or duplicate edges, finite non-negative
    weights, and (unless ``allow_untaught``) a teacher for every node not in ``exempt`` (the
    nodes that had none before the update)."""
    edge_index, weight, n = graph.edge_index, graph.edge_weight, graph.num_nodes
    if bool((edge_index[0] == edge_index[1]).any()):
        raise GraphensError("plasticity made a self-loop; this is a bug in the rule.")
    keys = edge_index[0] * n + edge_index[1]
    if torch.unique(keys).numel() != keys.numel():
        raise GraphensError("plasticity made a duplicate edge; this is a bug in the rule.")
    if weight.shape[0] != edge_index.shape[1] or not bool(torch.isfinite(weight).all()) \
            or bool((weight < 0).any()):
        raise GraphensError("plasticity made non-finite or negative edge weights; lower the "
                            "rule's rate or check the loss for extreme values.")
    if not allow_untaught:
        missing = set(untaught_nodes(graph)) - set(exempt)
        if missing:
            raise GraphensError(f"plasticity left node(s) {sorted(missing)} without a teacher; "
                                "this is a bug in the rule (or pass allow_untaught=True).")


# --------------------------------------------------------------------------------------------
# Pruning and growing
# --------------------------------------------------------------------------------------------


def _weakest(graph: Data, weakness: Tensor, k: int, generator: torch.Generator,
             allow_untaught: bool) -> Tensor:
    """Bool mask of up to ``k`` edges to remove, largest ``weakness`` first (ties in a seeded
    random order; NaN = unobserved, never removed), keeping every student's last teacher
    unless ``allow_untaught``."""
    num_edges = weakness.shape[0]
    remove = torch.zeros(num_edges, dtype=torch.bool, device=weakness.device)
    if k <= 0 or num_edges == 0:
        return remove
    shuffle = torch.randperm(num_edges, generator=generator).to(weakness.device)
    values = weakness[shuffle].nan_to_num(nan=-math.inf).cpu()
    order = shuffle.cpu()[torch.argsort(values, descending=True, stable=True)].tolist()
    usable = values.sort(descending=True, stable=True).values
    students = graph.edge_index[1].cpu().tolist()
    in_degree: dict[int, int] = {}
    for s in students:
        in_degree[s] = in_degree.get(s, 0) + 1
    chosen = 0
    for rank, e in enumerate(order):
        if chosen == k or usable[rank] == -math.inf:
            break
        s = students[e]
        if not allow_untaught and in_degree[s] <= 1:
            continue
        in_degree[s] -= 1
        remove[e] = True
        chosen += 1
    return remove


def _absent_pairs(graph: Data) -> Tensor:
    """``[2, P]`` ordered pairs (teacher, student), no self-pairs, not edges of ``graph``."""
    n = graph.num_nodes
    present = torch.zeros(n, n, dtype=torch.bool)
    present[graph.edge_index[0].cpu(), graph.edge_index[1].cpu()] = True
    present.fill_diagonal_(True)
    return (~present).nonzero().t()


def _grow_scores(rule: PlasticityRule, pairs: Tensor, how: str,
                 generator: torch.Generator) -> Tensor:
    """Higher = grown first: uniform noise, or the agreement e^{-L} of the last batch."""
    if how == "random" or pairs.shape[1] == 0:
        return torch.rand(pairs.shape[1], generator=generator)
    objective = rule._objective[0]
    z = getattr(objective, "last_z", None)
    if z is None:
        return torch.rand(pairs.shape[1], generator=generator)
    loss = rule._objective_loss()
    per_pair = loss(z.float(), pairs.to(z.device), reduction="none")
    return torch.exp(-per_pair).cpu()


def _replace(rule: PlasticityRule, graph: Data, remove: Tensor, count: int, weight: float,
             how: str, generator: torch.Generator) -> bool:
    """Remove the ``remove`` edges and grow ``count`` new ones of ``weight``."""
    keep = ~remove
    removed = graph.edge_index[:, remove].cpu()
    graph.edge_index = graph.edge_index[:, keep]
    graph.edge_weight = graph.edge_weight[keep]
    rule._keep_statistics(keep, 0)
    grown = _repair_untaught(rule, graph, removed, generator, weight, limit=count)
    _grow(rule, graph, count - grown, removed, weight, how, generator)
    return True


def _repair_untaught(rule: PlasticityRule, graph: Data, removed: Tensor | None,
                     generator: torch.Generator, weight: float, limit: int | None = None) -> int:
    """Give one teacher (random among the absent pairs) to each node that has none, at most
    ``limit`` of them; returns the number of edges grown."""
    if rule.allow_untaught:
        return 0
    grown = 0
    for node in untaught_nodes(graph)[:limit]:
        pairs = _absent_pairs(graph)
        pairs = pairs[:, pairs[1] == node]
        pairs = _prefer_new(pairs, removed)
        pick = int(torch.randint(pairs.shape[1], (1,), generator=generator))
        _add_edges(rule, graph, pairs[:, pick:pick + 1], weight)
        grown += 1
    return grown


def _prefer_new(pairs: Tensor, removed: Tensor | None) -> Tensor:
    """``pairs`` without the just-removed edges, unless that leaves none."""
    if removed is None or removed.shape[1] == 0 or pairs.shape[1] == 0:
        return pairs
    n = int(max(pairs.max(), removed.max())) + 1
    fresh = ~torch.isin(pairs[0] * n + pairs[1], removed[0] * n + removed[1])
    return pairs[:, fresh] if fresh.any() else pairs


def _grow(rule: PlasticityRule, graph: Data, count: int, removed: Tensor | None,
          weight: float, how: str, generator: torch.Generator) -> None:
    if count <= 0:
        return
    pairs = _absent_pairs(graph)
    fresh = _prefer_new(pairs, removed)
    if fresh.shape[1] < count:  # too few fresh pairs: take the removed ones back too
        fresh = pairs
    scores = _grow_scores(rule, fresh, how, generator)
    shuffle = torch.randperm(fresh.shape[1], generator=generator)
    order = shuffle[torch.argsort(scores[shuffle], descending=True, stable=True)]
    _add_edges(rule, graph, fresh[:, order[:count]], weight)


def _add_edges(rule: PlasticityRule, graph: Data, pairs: Tensor, weight: float) -> None:
    device = graph.edge_index.device
    graph.edge_index = torch.cat([graph.edge_index, pairs.to(device)], dim=1)
    graph.edge_weight = torch.cat([graph.edge_weight, torch.full(
        (pairs.shape[1],), weight, dtype=graph.edge_weight.dtype, device=device)])
    rule._keep_statistics(torch.ones(rule._norm.shape[0], dtype=torch.bool,
                                     device=rule._norm.device), pairs.shape[1])


# --------------------------------------------------------------------------------------------
# Metrics of the history
# --------------------------------------------------------------------------------------------


def _nodes(entry: Mapping[str, Any]) -> int:
    index = entry["edge_index"]
    return 1 + max((max(row) for row in index if row), default=1)


def history_metrics(entry: Mapping[str, Any], num_nodes: int, pos: Tensor | None = None,
                    seed: int = 0) -> dict[str, Any]:
    """Reciprocity, clustering, path length, efficiency, untaught nodes and the correlation of
    edge presence with receptive-field distance of one recorded graph."""
    from graphens.topology.metrics import distance_correlation, metrics

    edge_index = torch.tensor(entry["edge_index"], dtype=torch.long).reshape(2, -1)
    weight = torch.tensor(entry["edge_weight"], dtype=torch.float)
    graph = Data(edge_index=edge_index, edge_weight=weight, num_nodes=num_nodes)
    values = metrics(graph, small_world=False, seed=seed)
    keys = ("edges", "weight_total", "reciprocity", "clustering_directed",
            "characteristic_path_length", "global_efficiency", "untaught_nodes")
    out = {key: values[key] for key in keys}
    out["distance_correlation"] = distance_correlation(graph, pos) if pos is not None else None
    return out




def plasticity_results(rule: PlasticityRule, graph: Data, decoded: Mapping[str, Any],
                       seed: int = 0) -> dict[str, Any]:
    """``results.json["plasticity"]``: :meth:`PlasticityRule.summary` (rule, parameters,
    history of the graph, metrics over time), the last metrics as ``final_metrics`` and the
    final accuracies and agreement of the decoded ensemble."""
    out = rule.summary(graph, seed=seed)
    out["final_metrics"] = dict(out["metrics"][-1]) if out["metrics"] else {}
    out["final_metrics"].pop("step", None)
    out["final_metrics"].pop("epoch", None)
    for key in ("single_accuracy", "ensemble_accuracy"):
        if key in decoded:
            out[f"final_{key}"] = decoded[key]
    agreement = (decoded.get("agreement") or {}).get("mean")
    out["final_agreement"] = agreement
    return out


__all__ = ["PLASTICITY_RULES", "PlasticityRule", "Rewire", "LearnedWeights", "Hebbian",
           "make_rule", "check_params", "check_graph", "untaught_nodes", "history_metrics",
           "plasticity_results"]
