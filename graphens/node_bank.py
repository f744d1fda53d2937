"""N independent encoders evaluated in one batched call.

The bank instantiates ``encoder_factory(in_features)`` once per node (each with its own
seeded initialisation), stacks every parameter and buffer along a leading node dimension with
:func:`torch.func.stack_module_state`, and runs all nodes at once with
``vmap(functional_call)``. For linear layers vmap lowers to batched matmuls, so the ensemble
costs one kernel per layer instead of N. Nodes never share weights.

Modules that declare ``takes_mask = True`` (the token encoders of :mod:`graphens.encoders`)
are called as ``module(x, mask)`` with their node's ``[in_features]`` row of the signal mask,
so a node can tell its padding from real zeros (a ViT-lite masks padded patches out of
attention); the bank's ``forward(x, mask)`` passes ``mask[i]`` to node ``i`` under the same
vmap.

The ViT-lite (:class:`graphens.encoders.ViTLite` in its :class:`~graphens.encoders.TokenEncoder`)
also takes a direct path, :func:`_vit_forward`: every linear layer is one ``baddbmm`` over the
node dimension on ``[N, B·T, width]`` activations, attention runs once on
``[N·B, heads, T, T]``, layer norms are unaffine ``layer_norm`` then each node's scale and
shift, and dropout uses the integer-threshold masks below. Same weights, same function as the
vmap path (equal in eval mode); measured 1.23× faster per training step than vmap on 2 shared CPU
cores (``benchmarks/bench_vit.py``), and 2–3× faster than a Python loop over the nodes.
``bank.direct = False`` forces the vmap path.

Encoders that are a plain ``nn.Sequential`` of ``nn.Linear``, ``nn.Dropout`` and elementwise
activations (the built-in MLP) take a direct path instead of vmap, with the same result:
activations are kept feature-major (``[N, features, B]``) so that every layer is one
``baddbmm(bias, W, h)`` whose weight gradient ``dY @ h^T`` comes out in the parameter's own
``[N, out, in]`` layout (vmap's ``h @ W^T`` yields it transposed, and autograd then spends a
strided copy per weight per step), and dropout masks on the CPU are drawn as uniform 32-bit
integers compared with ``p * 2**32`` (a Bernoulli(p) draw up to 2**-32, about twice as fast as
``bernoulli_``, whose CPU kernel is serial).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from graphens.encoders import EncoderFactory
from graphens.errors import GraphensError


class NodeBank(nn.Module):
    """Stacked parameters of ``num_nodes`` encoders built by one factory.

    Parameters
    ----------
    encoder_factory : callable
        ``factory(in_features) -> nn.Module`` mapping ``[B, in_features]`` to ``[B, D]``.
    num_nodes : int
        Number of encoders ``N``.
    in_features : int
        Input width of every encoder. Nodes with smaller receptive fields get zero-padded
        inputs (the ensemble masks them), so one width serves all.
    seed : int
        Seed of the per-node initialisations (node ``i`` is initialised under ``seed`` + ``i``
        mixed into a fresh generator, independent of the global RNG).
    node_seeds : sequence of int, optional
        The initialisation seed of every node (``node_seed(seed, i)`` by default). A fleet
        (:mod:`graphens.fleet`) passes each member's own, so a member's node starts from the
        weights it has in the member's solo run.

    Notes
    -----
    Parameters are registered with names ``"<module path with / for .>"`` and shape
    ``[N, *shape]``; :meth:`node_state_dict` gives one node's weights back as a plain module
    state dict.
    """

    def __init__(self, encoder_factory: EncoderFactory, num_nodes: int, in_features: int,
                 seed: int = 0, node_seeds: Sequence[int] | None = None) -> None:
        super().__init__()
        if num_nodes < 1 or in_features < 1:
            raise GraphensError(
                f"NodeBank needs num_nodes >= 1 and in_features >= 1; got {num_nodes}, "
                f"{in_features}.")
        if node_seeds is None:
            node_seeds = [node_seed(seed, node) for node in range(num_nodes)]
        elif len(node_seeds) != num_nodes:
            raise GraphensError(f"node_seeds has {len(node_seeds)} seeds for {num_nodes} nodes; "
                                "give one per node.")
        modules = []
        for node in range(num_nodes):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(node_seeds[node]))
                module = encoder_factory(in_features)
            if not isinstance(module, nn.Module):
                raise GraphensError(
                    f"encoder_factory returned {type(module).__name__}; it must return an "
                    "nn.Module.")
            modules.append(module)
        params, buffers = stack_module_state(modules)
        self.num_nodes, self.in_features = num_nodes, in_features
        # A parameter-free template for functional_call; the real tensors live in this bank.
        self._template = [copy.deepcopy(modules[0]).to("meta")]
        self._names = list(params)
        self._buffer_names = list(buffers)
        self.params = nn.ParameterDict({_key(k): nn.Parameter(v) for k, v in params.items()})
        for name, value in buffers.items():
            self.register_buffer("buf_" + _key(name), value)
        self._plan = _sequential_plan(modules[0]) if not buffers else None
        self._vit = _vit_plan(modules[0]) if not buffers else None
        self.takes_mask = bool(getattr(modules[0], "takes_mask", False))
        #: Use the direct paths (MLP stacks, ViT-lite) where they apply; False: always vmap.
        self.direct = True

    def _state(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        params = {n: self.params[_key(n)] for n in self._names}
        buffers = {n: getattr(self, "buf_" + _key(n)) for n in self._buffer_names}
        return params, buffers

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Embed ``x`` of shape ``[N, B, in_features]`` into ``[N, B, D]``.

        ``mask`` (``[N, in_features]`` bool, True at real signals) reaches the encoders that
        take it (``takes_mask``); the others ignore it. None: every signal is real.
        """
        if x.dim() != 3 or x.shape[0] != self.num_nodes or x.shape[2] != self.in_features:
            raise GraphensError(
                f"NodeBank expects input [N={self.num_nodes}, B, {self.in_features}]; got "
                f"{tuple(x.shape)}.")
        direct = getattr(self, "direct", True)
        if direct and getattr(self, "_plan", None) is not None:
            return self._forward_sequential(x)
        if not getattr(self, "takes_mask", False):
            mask = None
        if mask is not None and mask.shape != (self.num_nodes, self.in_features):
            raise GraphensError(
                f"NodeBank mask must be [N={self.num_nodes}, {self.in_features}]; got "
                f"{tuple(mask.shape)}.")
        params, buffers = self._state()
        if direct and getattr(self, "_vit", None) is not None:
            return _vit_forward(params, x, mask, self._vit, self.training)
        template = self._template[0]
        template.train(self.training)
        if mask is not None:

            def masked_node(params: dict, buffers: dict, inputs: Tensor, node_mask: Tensor,
                            ) -> Tensor:
                return functional_call(template, (params, buffers), (inputs, node_mask))

            return vmap(masked_node, randomness="different")(params, buffers, x, mask)

        def one_node(params: dict, buffers: dict, inputs: Tensor) -> Tensor:
            return functional_call(template, (params, buffers), (inputs,))

        return vmap(one_node, randomness="different")(params, buffers, x)

    def _forward_sequential(self, x: Tensor) -> Tensor:
        """The vmap-free path for Linear / activation / Dropout stacks (see the module doc)."""
        h = x.transpose(1, 2)  # [N, in, B], feature-major
        for kind, first, second in self._plan:
            if kind == "linear":
                weight = self.params[first]
                if second is None:
                    h = torch.bmm(weight, h)
                else:
                    h = torch.baddbmm(self.params[second].unsqueeze(-1), weight, h)
            elif kind == "dropout":
                if self.training and first > 0.0:
                    h = _dropout(h, first)
            else:
                h = first(h)  # an elementwise activation module
        return h.transpose(1, 2).contiguous()

    def node_state_dict(self, node: int) -> dict[str, Tensor]:
        """The weights of one node, keyed as in the factory's module."""
        params, buffers = self._state()
        return {n: t[node].detach().clone() for n, t in {**params, **buffers}.items()}

    def extra_repr(self) -> str:
        return f"num_nodes={self.num_nodes}, in_features={self.in_features}"


# Elementwise, parameter-free activations: applying them to [N, features, B] is applying them
# to each node's [B, features].
_ELEMENTWISE = (nn.GELU, nn.ReLU, nn.Tanh, nn.SiLU, nn.Sigmoid, nn.Identity, nn.LeakyReLU,
                nn.ELU)
_PlanStep = tuple[str, object, object]


def _sequential_plan(module: nn.Module) -> list[_PlanStep] | None:
    """Steps of the direct path, or None when ``module`` is not a Linear/act/Dropout stack."""
    if type(module) is not nn.Sequential:
        return None
    plan: list[_PlanStep] = []
    for name, child in module.named_children():
        if type(child) is nn.Linear:
            bias = _key(f"{name}.bias") if child.bias is not None else None
            plan.append(("linear", _key(f"{name}.weight"), bias))
        elif type(child) is nn.Dropout:
            plan.append(("dropout", float(child.p), None))
        elif type(child) in _ELEMENTWISE and not any(True for _ in child.parameters()):
            plan.append(("act", copy.deepcopy(child), None))
        else:
            return None
    return plan


def _vit_plan(module: nn.Module) -> dict[str, object] | None:
    """The sizes :func:`_vit_forward` needs, or None when ``module`` is not a plain ViT-lite."""
    from graphens.encoders import TokenEncoder, ViTBlock, ViTLite

    if type(module) is not TokenEncoder or type(module.inner) is not ViTLite:
        return None
    vit = module.inner
    blocks = list(vit.blocks)
    if any(type(b) is not ViTBlock for b in blocks):
        return None
    mlp = []
    for child in blocks[0].mlp:
        if type(child) is nn.Linear:
            mlp.append(len(mlp))
        elif type(child) not in (nn.GELU, nn.Dropout) or (
                type(child) is nn.GELU and child.approximate != "none"):
            return None
    return {"heads": blocks[0].heads, "depth": len(blocks), "dropout": blocks[0].dropout,
            "eps": vit.norm.eps, "mlp": len(mlp), "token_width": module.token_width}


def _vit_forward(params: dict[str, Tensor], x: Tensor, mask: Tensor | None,
                 plan: dict[str, object], training: bool) -> Tensor:
    r"""Every node's ViT-lite at once: ``x`` ``[N, B, P·v]`` to ``[N, B, D]``.

    The same function as :class:`graphens.encoders.ViTLite` per node (see its docstring), on
    the stacked parameters (``inner.tokenizer.weight`` ``[N, D, v]``, ...): tokens
    ``h = [c; x W^T + b] + E_pos`` on ``[N, B·T, D]``, then per block
    ``h += proj(softmax(q k^T / sqrt(d_h)) v)`` with ``q, k, v`` from ``qkv(LN_1(h))`` and
    ``h += MLP(LN_2(h))``, output ``LN(h_0)``. ``mask`` (``[N, P·v]``, True at real signals)
    masks padded patches out of the keys.
    """
    heads, depth = int(plan["heads"]), int(plan["depth"])  # type: ignore[call-overload]
    p, eps = float(plan["dropout"]), float(plan["eps"])  # type: ignore[arg-type]
    width = int(plan["token_width"])  # type: ignore[call-overload]

    def linear(h: Tensor, name: str) -> Tensor:
        return torch.baddbmm(params[name + ".bias"].unsqueeze(1), h,
                             params[name + ".weight"].transpose(1, 2))

    def norm(h: Tensor, name: str) -> Tensor:
        out = nn.functional.layer_norm(h, h.shape[-1:], eps=eps)
        return torch.addcmul(params[name + ".bias"].unsqueeze(1), out,
                             params[name + ".weight"].unsqueeze(1))

    def drop(h: Tensor) -> Tensor:
        return _dropout(h, p) if training and p > 0.0 else h

    nodes, batch, _ = x.shape
    dim = params["inner.tokenizer.weight"].shape[1]
    patches = x.shape[2] // width
    tokens, head_dim = patches + 1, dim // heads
    h = linear(x.reshape(nodes, batch * patches, width), "inner.tokenizer")
    cls = params["inner.cls"][:, None, None, :].expand(nodes, batch, 1, dim)
    h = torch.cat([cls, h.view(nodes, batch, patches, dim)], dim=2) + params["inner.pos"][:, None]
    h = h.reshape(nodes, batch * tokens, dim)
    padding = None
    if mask is not None:  # [N, T] True at padded tokens (the class token is real)
        padding = nn.functional.pad(~mask.reshape(nodes, patches, width)[:, :, 0], (1, 0))
        padding = padding[:, None, None, None, :]  # against [N, B, heads, T, T]
    for block in range(depth):
        name = f"inner.blocks.{block}."
        qkv = linear(norm(h, name + "norm1"), name + "qkv")
        q, k, v = qkv.view(nodes * batch, tokens, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) * head_dim**-0.5  # [N·B, heads, T, T]
        if padding is not None:
            scores = scores.view(nodes, batch, heads, tokens, tokens).masked_fill(
                padding, float("-inf")).view(nodes * batch, heads, tokens, tokens)
        attended = drop(scores.softmax(dim=-1)) @ v
        h = h + linear(attended.transpose(1, 2).reshape(nodes, batch * tokens, dim),
                       name + "proj")
        m = norm(h, name + "norm2")
        for layer in range(int(plan["mlp"])):  # type: ignore[call-overload]
            m = drop(nn.functional.gelu(linear(m, f"{name}mlp.{3 * layer}")))
        h = h + m
    return norm(h.view(nodes, batch, tokens, dim)[:, :, 0], "inner.norm")


def _dropout(h: Tensor, p: float) -> Tensor:
    """Inverted dropout: zero each element with probability ``p``, scale the rest by 1/(1-p)."""
    if p >= 1.0 or h.device.type != "cpu":
        return nn.functional.dropout(h, p, training=True)
    # One uniform 64-bit draw gives two uniform int32 values; keep where value >= threshold,
    # with P(value < threshold) = round(p * 2**32) / 2**32.
    count = h.numel()
    words = torch.empty((count + 1) // 2, dtype=torch.int64, device=h.device)
    bits = words.random_(-(2**63), None).view(torch.int32)[:count].view(h.shape)
    threshold = int(round(p * 2**32)) - 2**31
    keep = bits >= threshold
    return h * keep.to(h.dtype).mul_(1.0 / (1.0 - p))


def _key(name: str) -> str:
    return name.replace(".", "/")


def node_seed(seed: int, node: int) -> int:
    """The initialisation seed of node ``node`` in a bank seeded with ``seed``."""
    return (int(seed) * 1_000_003 + node * 7_919 + 17) % (2**63 - 1)
