"""ViT-lite nodes: token order, shapes, the node bank against a per-node loop, padding masks,
the config's refusal of non-patch fields, and `graphens train --encoder vit-lite` end to end."""

import json

import pytest
import torch
from torch import nn

from graphens import GraphensError
from graphens.cli import main
from graphens.config import RunConfig
from graphens.encoders import TokenEncoder, ViTLite, token_encoder, vit_lite_encoder
from graphens.ensemble import Ensemble
from graphens.graph import ensemble_graph
from graphens.modality import estimate_training_bytes
from graphens.node_bank import NodeBank
from graphens.receptive_fields import ReceptiveFields, sample_receptive_fields, token_width
from graphens.topology import make_topology

SMALL = {"dim": 16, "heads": 4, "hidden": (32, 16)}


def patch_graph(kind="patches", nodes=3, shape=(8, 8, 2), patch=2, fraction=0.25, seed=0):
    h, w, c = shape
    fields = sample_receptive_fields(kind, nodes, h * w * c, fraction=fraction,
                                     image_shape=shape, seed=seed, patch=patch)
    return ensemble_graph(make_topology("all-to-all", nodes), fields)


def test_vit_lite_shapes_and_paper_layout():
    module = vit_lite_encoder(16)(5 * 16)
    assert isinstance(module, TokenEncoder) and isinstance(module.inner, ViTLite)
    assert module(torch.rand(7, 80)).shape == (7, 256)
    vit = module.inner
    assert vit.pos.shape == (6, 256) and vit.cls.shape == (256,)
    assert len(vit.blocks) == 2 and vit.blocks[0].heads == 4
    widths = [(m.in_features, m.out_features) for m in vit.blocks[0].mlp
              if isinstance(m, nn.Linear)]
    assert widths == [(256, 512), (512, 256)]
    assert sum(isinstance(m, nn.GELU) for m in vit.blocks[0].mlp) == 2
    assert all(m.p == 0.1 for m in vit.modules() if isinstance(m, nn.Dropout))
    assert vit.blocks[0].dropout == 0.1 and vit.norm.eps == 1e-6


@pytest.mark.parametrize("kind", ["patches", "contiguous"])
def test_tokens_are_whole_patches_in_order(kind):
    """A hand-built image whose every value names its patch, its pixel in the patch and its
    channel: the gathered view reshapes to tokens [N, B, P, p*p*C] of single patches."""
    h, w, c, p = 8, 8, 2, 2
    rows, cols, chans = torch.meshgrid(torch.arange(h), torch.arange(w), torch.arange(c),
                                       indexing="ij")
    patch_id = (rows // p) * (w // p) + cols // p
    within = (rows % p) * p + cols % p
    image = (patch_id * 100 + within * 10 + chans).float()  # [H, W, C]
    graph = patch_graph(kind, shape=(h, w, c), patch=p)
    ensemble = Ensemble(graph, vit_lite_encoder(p * p * c, **SMALL))
    views = ensemble.gather(image.reshape(1, -1))  # channel-last flat
    width = token_width(graph.receptive_field["kind"], graph.receptive_field["params"])
    tokens = views.reshape(graph.num_nodes, 1, -1, width)
    expected_within = torch.tensor([q * 10 + ch for q in range(p * p) for ch in range(c)])
    for node in range(graph.num_nodes):
        ids = tokens[node, 0] // 100
        assert (ids == ids[:, :1]).all()  # one patch per token
        assert ids[:, 0].tolist() == sorted(set(ids[:, 0].tolist()))  # raster order
        assert ((tokens[node, 0] % 100) == expected_within).all()  # pixels row-major, channels


def test_bank_equals_a_loop_of_plain_modules():
    graph = patch_graph()
    factory = vit_lite_encoder(8, **SMALL)
    ensemble = Ensemble(graph, factory, seed=3).eval()
    x = torch.rand(5, 128)
    z = ensemble(x)
    assert z.shape == (3, 5, 16)
    views = ensemble.gather(x)
    for node in range(3):
        module = factory(views.shape[2])
        module.load_state_dict(ensemble.bank.node_state_dict(node))
        torch.testing.assert_close(z[node], module.eval()(views[node]), rtol=1e-5, atol=1e-5)
    assert not torch.equal(z[0], z[1])  # nodes share no weights
    ensemble.train()
    trained = ensemble(x)
    assert torch.isfinite(trained).all() and not torch.allclose(trained, z)  # dropout is on
    # Each node draws its own dropout masks: identical nodes on identical inputs differ.
    same = NodeBank(lambda width: factory(width), 2, 32, seed=0)
    with torch.no_grad():
        for param in same.params.values():
            param[1] = param[0]
    for direct in (True, False):
        same.direct = direct
        out = same(torch.rand(1, 4, 32).expand(2, 4, 32))
        assert not torch.allclose(out[0], out[1])
    same.eval()
    out = same(torch.rand(1, 4, 32).expand(2, 4, 32))
    torch.testing.assert_close(out[0], out[1])


def test_direct_vit_path_equals_vmap():
    """The bank's batched ViT-lite (the default) and vmap(functional_call) agree, gradients
    included; the direct path is the one taken."""
    graph = patch_graph()
    ensemble = Ensemble(graph, vit_lite_encoder(8, **SMALL), seed=2).eval()
    assert ensemble.bank._vit is not None
    x = torch.rand(6, 128)
    direct = ensemble(x)
    direct.square().sum().backward()
    grads = {n: p.grad.clone() for n, p in ensemble.bank.params.items()}
    ensemble.zero_grad()
    ensemble.bank.direct = False
    vmapped = ensemble(x)
    vmapped.square().sum().backward()
    torch.testing.assert_close(direct, vmapped, rtol=1e-5, atol=1e-5)
    for name, param in ensemble.bank.params.items():
        torch.testing.assert_close(param.grad, grads[name], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("direct", [True, False])
def test_padded_patches_are_masked_out_of_attention(direct):
    """Node 1 sees 1 patch padded to 3: its embedding equals its module on the 1 real token
    (positions of the real slots), and differs when padding is not masked."""
    full = patch_graph(fraction=0.375, nodes=2, seed=1)  # 3 patches of 8 values
    index, mask = full.rf_index.clone(), full.rf_mask.clone()
    index[1, 8:], mask[1, 8:] = 0, False
    fields = ReceptiveFields(index, mask, None, "patches", full.receptive_field["params"])
    graph = ensemble_graph(make_topology("all-to-all", 2), fields)
    factory = vit_lite_encoder(8, **SMALL)
    ensemble = Ensemble(graph, factory, seed=0).eval()
    ensemble.bank.direct = direct
    x = torch.rand(4, 128)
    z = ensemble(x)
    state = ensemble.bank.node_state_dict(1)
    alone = ViTLite(1, 8, **SMALL).eval()
    alone.load_state_dict({k.removeprefix("inner."): (v[:2] if k == "inner.pos" else v)
                           for k, v in state.items()})
    real = x[:, index[1, :8]].reshape(4, 1, 8)
    torch.testing.assert_close(z[1], alone(real), rtol=1e-5, atol=1e-5)
    unmasked = ensemble.bank(ensemble.gather(x))  # no mask: padding tokens are attended
    assert not torch.allclose(unmasked[1], z[1], atol=1e-4)
    torch.testing.assert_close(unmasked[0], z[0])  # node 0 has no padding


def test_a_user_token_module_works_through_the_bank():
    class MeanToken(nn.Module):
        def __init__(self, num_tokens, width):
            super().__init__()
            self.proj = nn.Linear(width, 6)

        def forward(self, tokens, key_padding_mask=None):
            return self.proj(tokens).mean(dim=1)

    graph = patch_graph()
    ensemble = Ensemble(graph, token_encoder(MeanToken, 8))
    assert ensemble(torch.rand(4, 128)).shape == (3, 4, 6)
    with pytest.raises(GraphensError, match="whole patches of 8 values"):
        NodeBank(token_encoder(MeanToken, 8), 2, 12)


def test_config_refuses_vit_lite_without_patch_fields():
    for rf in ("gaussian", "random"):
        with pytest.raises(GraphensError, match="--rf patches or --rf contiguous"):
            RunConfig(encoder="vit-lite", rf=rf)
    with pytest.raises(GraphensError, match="--rf patches or --rf contiguous"):
        RunConfig(encoder="vit-lite")  # vision's default fields are Gaussian
    config = RunConfig(encoder="vit-lite", rf="contiguous")
    assert config.hidden == (512, 256) and config.dim == 256  # the paper's ViT-lite
    with pytest.raises(GraphensError, match="must end at dim=64"):
        RunConfig(encoder="vit-lite", rf="patches", dim=64)
    with pytest.raises(GraphensError, match="not divisible by heads=4"):
        RunConfig(encoder="vit-lite", rf="patches", dim=30, hidden=(30,))


def test_cli_refusal_is_one_line(capsys):
    assert main(["train", "--encoder", "vit-lite", "--rf", "gaussian", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--rf patches or --rf contiguous" in err


def test_memory_estimate_counts_tokens():
    factory = vit_lite_encoder(16, **SMALL)
    one_token = estimate_training_bytes(factory, 2, 16, 4096)  # 2 tokens with the class token
    five_tokens = estimate_training_bytes(factory, 2, 80, 4096)  # 6 tokens
    assert five_tokens > 2.5 * one_token


@pytest.mark.parametrize("rf", ["patches", "contiguous"])
def test_train_vit_lite_end_to_end_on_digits(rf, tmp_path):
    out = tmp_path / rf
    argv = ["train", "--encoder", "vit-lite", "--rf", rf, "--rf-param", "patch=2",
            "--dim", "16", "--hidden", "32,16", "--nodes", "3", "--epochs", "1", "--quiet",
            "--out", str(out)]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["encoder"] == "vit-lite"
    assert results["receptive_field"]["sizes"] == [32, 32, 32]  # d 0.5: 8 patches of 2x2
    assert results["config"]["tau"] == 0.1  # vit-lite's own, not the digits MLP's 0.01
    assert results["ensemble_accuracy"] > 0.3  # 10 classes
    assert results["loss_history"][-1] < results["first_loss"]
