import copy

import pytest
import torch

from graphens.optim import SlicedNAdam


def _params(seed: int) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(4, 6, 5, generator=g)),
            torch.nn.Parameter(torch.randn(4, 6, generator=g)),
            torch.nn.Parameter(torch.randn(3, generator=g))]


def _run(make_optimizer, steps: int = 5) -> list[torch.Tensor]:
    params = _params(0)
    optimizer = make_optimizer(params)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = sum((p * torch.randn(p.shape, generator=g)).sum() + p.pow(2).sum() for p in params)
        loss.backward()
        optimizer.step()
    return [p.detach().clone() for p in params]


def _assert_twin_continues(params, optimizer, state, steps=1):
    """A twin loaded from ``state`` takes the same ``steps`` as ``optimizer``, bit for bit."""
    twin = [torch.nn.Parameter(p.detach().clone()) for p in params]
    twin_optimizer = SlicedNAdam(twin, lr=1e-2)
    twin_optimizer.load_state_dict(state)
    for _ in range(steps):
        for group in (params, twin):
            for p in group:
                p.grad = torch.full_like(p, 0.5)
        optimizer.step()
        twin_optimizer.step()
    for a, b in zip(params, twin, strict=True):
        assert torch.equal(a, b)


def test_sliced_nadam_is_bit_identical_to_nadam():
    ours = _run(lambda ps: SlicedNAdam(ps, lr=1e-2, eps=1e-7))
    stock = _run(lambda ps: torch.optim.NAdam(ps, lr=1e-2, eps=1e-7, foreach=False))
    start = _params(0)
    for a, b, p0 in zip(ours, stock, start, strict=True):
        assert not torch.equal(a, p0)  # it did move
        assert torch.equal(a, b)


def test_sliced_nadam_state_dict_round_trip_continues_identically():
    params = _params(0)
    optimizer = SlicedNAdam(params, lr=1e-2)
    for p in params:
        p.grad = torch.ones_like(p)
    optimizer.step()
    state = copy.deepcopy(optimizer.state_dict())  # state_dict shares live tensors
    _assert_twin_continues(params, optimizer, state)


def test_sliced_nadam_skips_parameters_without_gradient():
    params = _params(0)
    before = params[2].detach().clone()
    optimizer = SlicedNAdam(params)
    params[0].grad = torch.ones_like(params[0])
    optimizer.step()
    assert torch.equal(params[2], before)
    optimizer.zero_grad()
    assert all(p.grad is None for p in params)


def _run_chunked(monkeypatch, chunk_bytes: int) -> list[torch.Tensor]:
    import graphens.optim
    monkeypatch.setattr(graphens.optim, "CHUNK_BYTES", chunk_bytes)
    return _run(lambda ps: SlicedNAdam(ps, lr=1e-2, eps=1e-7))


def test_chunks_of_nodes_step_bit_identically_to_one_slice_per_node(monkeypatch):
    # [4, 6, 5] float32 is 120 bytes per node: 250 bytes makes chunks of 2 nodes, 400 of 3
    # and 1 (a ragged last chunk), 0 one slice per node.
    per_node = _run_chunked(monkeypatch, 0)
    for chunk_bytes in (250, 400, 10**9):
        for a, b in zip(_run_chunked(monkeypatch, chunk_bytes), per_node, strict=True):
            assert torch.equal(a, b)


def test_state_dict_is_per_node_whatever_the_chunking(monkeypatch):
    import graphens.optim
    states = {}
    for chunk_bytes in (0, 400):
        monkeypatch.setattr(graphens.optim, "CHUNK_BYTES", chunk_bytes)
        params = _params(0)
        optimizer = SlicedNAdam(params, lr=1e-2)
        for p in params:
            p.grad = torch.arange(p.numel(), dtype=p.dtype).reshape(p.shape) / 7
        optimizer.step()
        states[chunk_bytes] = copy.deepcopy(optimizer.state_dict())
    per_node, chunked = states[0], states[400]
    assert per_node["param_groups"] == chunked["param_groups"]
    assert len(per_node["param_groups"][0]["params"]) == 4 + 4 + 1  # node slices + bias
    assert per_node["state"].keys() == chunked["state"].keys()
    for key, entry in per_node["state"].items():
        for name, value in entry.items():
            assert torch.equal(value, chunked["state"][key][name]), (key, name)


def test_checkpoint_state_moves_between_chunkings_and_continues_identically(monkeypatch):
    import graphens.optim
    monkeypatch.setattr(graphens.optim, "CHUNK_BYTES", 0)  # as written before chunking
    params = _params(0)
    optimizer = SlicedNAdam(params, lr=1e-2)
    for p in params:
        p.grad = torch.ones_like(p)
    optimizer.step()
    state = copy.deepcopy(optimizer.state_dict())
    monkeypatch.setattr(graphens.optim, "CHUNK_BYTES", 400)
    _assert_twin_continues(params, optimizer, state, steps=2)
    with pytest.raises(ValueError, match="node slices"):
        SlicedNAdam(_params(0)[:2]).load_state_dict(state)
