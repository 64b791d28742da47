"""Tests for the AASIST back-ends: parity with the official checkpoints, sizes, SSL variant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import reconfake.detector.aasist as aasist_module
from reconfake.detector.aasist import (
    AASIST_CONFIG,
    AASIST_L_CONFIG,
    AASISTConfig,
    RawAASIST,
    ResidualBlock,
    SSLAASISTBackend,
    load_state_dict_strict,
    max_pool_3x3,
    max_pool_time3,
)
from reconfake.detector.inference import bonafide_scores
from tests.conftest import needs_shared

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "aasist"
MODELS = [("AASIST", AASIST_CONFIG, 297_866), ("AASIST-L", AASIST_L_CONFIG, 85_306)]
needs_reference = needs_shared(REFERENCE)  # skipped where absent; fails under CI=true


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@needs_reference
@pytest.mark.parametrize(("name", "config", "n_params"), MODELS)
def test_official_weights_reproduce_reference_logits(
    name: str, config: AASISTConfig, n_params: int
) -> None:
    model = load_state_dict_strict(RawAASIST(config), REFERENCE / f"{name}.pth").eval()
    assert _n_params(model) == n_params
    x = torch.from_numpy(np.load(REFERENCE / "inputs.npy"))
    expected = torch.from_numpy(np.load(REFERENCE / f"logits_{name}.npy"))
    with torch.no_grad():
        embedding, logits = model(x, return_embedding=True)
    assert logits.shape == (4, 2)
    assert embedding.shape == (4, 5 * config.gat_dims[1])
    torch.testing.assert_close(logits[:, 1], expected[:, 1], atol=1e-4, rtol=0)
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(model.out_layer(embedding), logits)


@pytest.mark.parametrize(("name", "config", "n_params"), MODELS)
def test_parameter_counts(name: str, config: AASISTConfig, n_params: int) -> None:
    assert _n_params(RawAASIST(config)) == n_params, name


def test_config_from_official_dict() -> None:
    official = {
        "architecture": "AASIST",
        "nb_samp": 64600,
        "first_conv": 128,
        "filts": [70, [1, 32], [32, 32], [32, 24], [24, 24]],
        "gat_dims": [24, 32],
        "pool_ratios": [0.4, 0.5, 0.7, 0.5],
        "temperatures": [2.0, 2.0, 100.0, 100.0],
    }
    assert AASISTConfig.from_dict(official) == AASIST_L_CONFIG


def test_raw_aasist_trains_on_short_batch() -> None:
    torch.manual_seed(0)
    model = RawAASIST(AASIST_L_CONFIG).train()
    logits = model(torch.randn(2, 8000), freq_mask=True)
    assert logits.shape == (2, 2)
    logits.sum().backward()
    assert model.first_bn.weight.grad is not None


@pytest.mark.parametrize("dim", [1024, 32])
def test_ssl_backend_shapes_and_gradients(dim: int) -> None:
    torch.manual_seed(0)
    model = SSLAASISTBackend(feature_dim=dim).train()
    feats = torch.randn(2, 50, dim)
    embedding, logits = model(feats, return_embedding=True)
    assert logits.shape == (2, 2)
    assert embedding.shape == (2, 160)
    assert torch.isfinite(logits).all() and torch.isfinite(embedding).all()
    (logits.sum() + embedding.pow(2).mean()).backward()
    grad = model.LL.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    with torch.no_grad():
        assert model.eval()(feats).shape == (2, 2)


def test_load_state_dict_strict_reports_key_mismatch(tmp_path: Path) -> None:
    raw_state = RawAASIST(AASIST_L_CONFIG).state_dict()
    path = tmp_path / "raw_aasist_l.pth"
    torch.save(raw_state, path)
    with pytest.raises(ValueError, match="missing keys") as err:
        load_state_dict_strict(SSLAASISTBackend(feature_dim=32), path)
    message = str(err.value)
    assert str(path) in message
    assert "LL.weight" in message and "first_bn1.weight" in message
    assert "pos_S" in message  # (1, 23, 24) in the file vs (1, 42, 64) in the model

    # DataParallel-style prefix, one renamed key: both a missing and an unexpected key
    state = {f"module.{k}": v for k, v in raw_state.items()}
    state["module.out_layer.kernel"] = state.pop("module.out_layer.weight")
    torch.save(state, path)
    with pytest.raises(ValueError, match="unexpected keys") as err:
        load_state_dict_strict(RawAASIST(AASIST_L_CONFIG), path)
    message = str(err.value)
    assert "1 missing keys [out_layer.weight]" in message
    assert "1 unexpected keys [out_layer.kernel]" in message


def test_load_state_dict_strict_strips_module_prefix(tmp_path: Path) -> None:
    source = SSLAASISTBackend(feature_dim=32)
    path = tmp_path / "ssl.pth"
    torch.save({f"module.{k}": v for k, v in source.state_dict().items()}, path)
    target = load_state_dict_strict(SSLAASISTBackend(feature_dim=32), path)
    torch.testing.assert_close(target.LL.weight, source.LL.weight)
    torch.testing.assert_close(target.pos_S, source.pos_S)


# --------------------------------------------------------------------------- fast inference


def test_inference_pools_equal_max_pool2d() -> None:
    x = torch.randn(2, 5, 23, 100)
    x[0, 0, 0, :3] = 1.0  # ties
    assert torch.equal(max_pool_time3(x), F.max_pool2d(x, (1, 3)))
    assert torch.equal(max_pool_3x3(x), F.max_pool2d(x, (3, 3)))


@pytest.mark.parametrize(("in_ch", "out_ch", "first", "width"),
                         [(1, 32, True, 1000), (32, 64, False, 301), (64, 64, False, 95)])
def test_tiled_block_equals_whole_map(in_ch: int, out_ch: int, first: bool, width: int) -> None:
    """Tiles of 37 output columns (first, middle and last tiles, widths not multiples of 3)
    give the whole-map block's values: the halo and the zero padding at both ends are right."""
    torch.manual_seed(0)
    block = ResidualBlock(in_ch, out_ch, first=first).eval()
    for bn in (block.bn2,):  # non-trivial batch-norm statistics
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, in_ch, 23, width)
    with torch.enable_grad():
        whole = block(x)  # the autograd path: F.max_pool2d, padded convolutions
    with torch.inference_mode():
        tiled = block.forward_tiled(x, 37)
    assert tiled.shape == whole.shape == (2, out_ch, 23, width // 3)
    torch.testing.assert_close(tiled, whole.detach(), atol=2e-6, rtol=0)


def _speechlike(n: int) -> torch.Tensor:
    t = torch.arange(64600) / 16000
    clips = [sum(torch.sin(2 * torch.pi * k * (110 + 20 * i) * t) / k for k in range(1, 30)) * 0.05
             + 0.01 * torch.randn(64600, generator=torch.Generator().manual_seed(i))
             for i in range(n)]
    return torch.stack(clips)


@needs_reference
def test_tiled_inference_matches_training_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """No-grad forward (tiled blocks, index-free pooling) vs the autograd forward with the
    official weights, with the default tile and with a tile that splits unevenly."""
    model = load_state_dict_strict(RawAASIST(), REFERENCE / "AASIST.pth").eval()
    x = _speechlike(1)
    with torch.enable_grad():
        reference = model(x).detach()
    for tile in (aasist_module.TILE_COLUMNS, 97):
        monkeypatch.setattr(aasist_module, "TILE_COLUMNS", tile)
        with torch.inference_mode():
            torch.testing.assert_close(model(x), reference, atol=1e-5, rtol=0)


def test_clip_parallel_scores_equal_batched_scores() -> None:
    """bonafide_scores runs raw AASIST one clip per thread; the scores equal one batched
    forward to 1e-5, and the process's thread count is left as it was."""
    torch.manual_seed(0)
    model = RawAASIST(AASIST_L_CONFIG).eval()
    wrapped = _WithEmbedding(model)
    x = _speechlike(3)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        scores = bonafide_scores(wrapped, x)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    with torch.inference_mode():
        batched = model(x)[:, 1].numpy()
    assert scores.shape == (3,) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, batched, atol=1e-5, rtol=0)


class _WithEmbedding(torch.nn.Module):
    """The registry's calling convention, ``(embedding, logits)``, around a RawAASIST."""

    clip_parallel_inference = True

    def __init__(self, model: RawAASIST) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model(x, return_embedding=True)
