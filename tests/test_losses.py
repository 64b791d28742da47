"""The objective: weighted CE, and the RACL terms on constructed batches with known values."""

import math

import pytest
import torch
import torch.nn.functional as F

from reconfake.detector.losses import DetectorLoss, compactness_loss, enhancement_loss

E = torch.eye(4)
# bona fide a (group 0), bona fide b (group 1), a's reconstruction (group 0), another spoof
EMB = torch.stack([E[0], E[0], E[1], E[2]])
LABELS = torch.tensor([1, 1, 0, 0])
GROUPS = torch.tensor([0, 1, 0, 2])


def test_enh_hand_checked():
    # temperature 1: anchor a sees b at similarity 1 and both spoofs at 0; its own
    # reconstruction counts twice:  -log(e / (e + 2 + 1));  anchor b: -log(e / (e + 1 + 1)).
    value = enhancement_loss(EMB, LABELS, GROUPS, temperature=1.0, hard_negative_weight=2.0)
    expected = (math.log(1 + 3 / math.e) + math.log(1 + 2 / math.e)) / 2
    assert value.item() == pytest.approx(expected, abs=1e-6)
    plain = enhancement_loss(EMB, LABELS, GROUPS, temperature=1.0, hard_negative_weight=1.0)
    assert plain.item() == pytest.approx(math.log(1 + 2 / math.e), abs=1e-6)


def test_enh_grows_as_the_reconstruction_nears_its_source():
    near = EMB.clone()
    near[2] = F.normalize(E[0] + 0.5 * E[1], dim=0)  # a's reconstruction, cosine 0.894 to a
    far = enhancement_loss(EMB, LABELS, GROUPS, temperature=0.1, hard_negative_weight=2.0)
    close = enhancement_loss(near, LABELS, GROUPS, temperature=0.1, hard_negative_weight=2.0)
    assert far.item() == pytest.approx(2.5 * math.exp(-10), rel=1e-3)
    s = 10 / math.sqrt(1.25)
    expected = (math.log(1 + (2 * math.exp(s) + 1) / math.exp(10))
                + math.log(1 + (math.exp(s) + 1) / math.exp(10))) / 2
    assert close.item() == pytest.approx(expected, abs=1e-5)
    assert close.item() > 1000 * far.item()


def test_enh_is_scale_invariant_and_uses_groups():
    assert enhancement_loss(3 * EMB, LABELS, GROUPS).item() == \
        pytest.approx(enhancement_loss(EMB, LABELS, GROUPS).item(), abs=1e-6)
    no_hard = enhancement_loss(EMB, LABELS, torch.tensor([0, 1, 2, 3]), temperature=1.0)
    assert no_hard.item() == pytest.approx(math.log(1 + 2 / math.e), abs=1e-6)


@pytest.mark.parametrize("labels", [[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
def test_enh_is_zero_without_anchors_and_backpropagates(labels):
    emb = torch.randn(4, 8, requires_grad=True)
    value = enhancement_loss(emb, torch.tensor(labels), GROUPS)
    assert value.item() == 0.0
    value.backward()
    assert torch.equal(emb.grad, torch.zeros_like(emb))


def test_enh_gradients_finite_with_spoof_rows():
    emb = torch.randn(6, 8, requires_grad=True)
    enhancement_loss(emb, torch.tensor([1, 1, 0, 0, 0, 1]), torch.tensor([0, 1, 0, 1, 2, 3])
                     ).backward()
    assert torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0


def test_reg_hand_checked():
    # bona fide a, b identical -> spread 0; spoofs orthogonal unit vectors -> 1 - |mean|^2 = 0.5
    assert compactness_loss(EMB, LABELS).item() == pytest.approx(0.25, abs=1e-7)
    assert compactness_loss(torch.stack([E[0], E[1]]), torch.tensor([1, 0])).item() == 0.0
    tight = torch.stack([E[0], E[0], E[1], E[1]])
    assert compactness_loss(tight, LABELS).item() == pytest.approx(0.0, abs=1e-7)


def test_detector_loss_terms_weights_and_switches():
    logits = torch.tensor([[0.2, 1.0], [0.0, 0.5], [1.5, -0.5], [0.3, 0.1]])
    ce = F.cross_entropy(logits, LABELS, weight=torch.tensor([0.1, 0.9]))
    plain = DetectorLoss()(EMB, logits, LABELS, GROUPS)
    assert set(plain) == {"total", "ce"} and plain["total"].item() == pytest.approx(ce.item())
    full = DetectorLoss(enh=True, enh_weight=0.5, temperature=1.0, hard_negative_weight=2.0,
                        reg=True, reg_weight=2.0)(EMB, logits, LABELS, GROUPS)
    assert set(full) == {"total", "ce", "enh", "reg"}
    enh = (math.log(1 + 3 / math.e) + math.log(1 + 2 / math.e)) / 2
    assert full["enh"].item() == pytest.approx(enh, abs=1e-6)
    assert full["reg"].item() == pytest.approx(0.25, abs=1e-6)
    assert full["total"].item() == pytest.approx(ce.item() + 0.5 * enh + 2.0 * 0.25, abs=1e-6)
    only_reg = DetectorLoss(reg=True)(EMB, logits, LABELS, GROUPS)
    assert set(only_reg) == {"total", "ce", "reg"}


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="temperature"):
        DetectorLoss(enh=True, temperature=0.0)


def test_terms_stay_float32_under_float16_autocast():
    """AMP on CUDA runs matmuls in float16; the similarity mask (-1e9) must not overflow."""
    torch.manual_seed(0)
    proj = torch.nn.Linear(16, 16)
    x = torch.randn(6, 16)
    labels = torch.tensor([1, 0, 0, 1, 0, 0])
    groups = torch.tensor([0, 0, 0, 1, 1, 1])
    loss = DetectorLoss((0.1, 0.9), enh=True, reg=True)
    plain = loss(proj(x), torch.randn(6, 2, generator=torch.Generator().manual_seed(1)),
                 labels, groups)
    with torch.autocast("cpu", dtype=torch.float16):
        embedding = proj(x)
        assert embedding.dtype == torch.float16  # autocast is really on
        mixed = loss(embedding, torch.randn(6, 2, generator=torch.Generator().manual_seed(1)),
                     labels, groups)
    for name in ("ce", "enh", "reg", "total"):
        assert mixed[name].dtype == torch.float32
        assert math.isfinite(mixed[name].item())
        assert mixed[name].item() == pytest.approx(plain[name].item(), rel=2e-2, abs=2e-3)
    mixed["total"].backward()
    assert torch.isfinite(proj.weight.grad).all()
