"""The paper's detector with a tiny random-weight wav2vec 2.0 twin: front-end loading, frozen
gradients, aggregation, training with RACL/RawBoost/caching, resume, checkpoints, scoring."""

import csv
import json

import numpy as np
import pytest
import torch

from reconfake.cli import main
from reconfake.detector.aggregation import LayerAggregation
from reconfake.detector.data import group_batches
from reconfake.detector.inference import load_checkpoint
from reconfake.detector.registry import architectures, build_model
from reconfake.detector.ssl_aasist import SSLAASIST
from reconfake.detector.ssl_frontend import (
    FrontendUnavailable,
    frontend_fingerprint,
    load_wav2vec2,
    tiny_wav2vec2,
)
from reconfake.train import train_detector
from tests.conftest import SSL_TINY_ARCH

ARCH = SSL_TINY_ARCH
TINY = ARCH["tiny"]
OPTIONS = {"epochs": 2, "batch_size": 4, "crop_samples": 8000, "eval_samples": 8000,
           "threads": 1, "lr": 0.003, "racl_enh": True, "racl_reg": True}


def _model(aggregation="sls", **kw):
    return SSLAASIST(**{**ARCH, "aggregation": aggregation, **kw})


# --------------------------------------------------------------------------- front-end


def test_tiny_twin_has_xlsr_architecture_and_is_seeded():
    state = torch.random.get_rng_state()
    a, b, c = tiny_wav2vec2(seed=0), tiny_wav2vec2(seed=0), tiny_wav2vec2(seed=1)
    assert torch.equal(state, torch.random.get_rng_state())  # global RNG untouched
    cfg = a.config
    assert cfg.do_stable_layer_norm and cfg.feat_extract_norm == "layer" and cfg.conv_bias
    assert int(np.prod(cfg.conv_stride)) == 320 and cfg.conv_kernel == (10, 3, 3, 3, 3, 2, 2)
    assert frontend_fingerprint(a) == frontend_fingerprint(b) != frontend_fingerprint(c)


def test_local_folder_round_trip_through_safetensors(tmp_path):
    twin = tiny_wav2vec2(**TINY, seed=3)
    twin.save_pretrained(tmp_path / "w2v")
    assert (tmp_path / "w2v" / "model.safetensors").exists()
    loaded = load_wav2vec2(str(tmp_path / "w2v"))
    assert frontend_fingerprint(loaded) == frontend_fingerprint(twin)
    model = SSLAASIST(frontend=str(tmp_path / "w2v"), aggregation="softmax")
    assert model.checkpoint_metadata()["frontend"]["trained"] is True
    x = torch.randn(2, 8000)
    with torch.no_grad():
        torch.testing.assert_close(model.frontend(x).last_hidden_state,
                                   twin(x).last_hidden_state)


def test_unavailable_frontends_fail_clearly(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FrontendUnavailable, match="no config.json"):
        load_wav2vec2(str(tmp_path / "empty"))
    with pytest.raises(FrontendUnavailable, match="not a front-end folder"):
        load_wav2vec2(str(tmp_path / "missing"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FrontendUnavailable, match="huggingface-cli download.*tiny-random"):
        load_wav2vec2("reconfake-tests/no-such-model")


# --------------------------------------------------------------------------- model


def test_registered_and_shapes():
    assert "ssl_aasist" in architectures()
    with pytest.raises(ValueError, match=r"ssl_aasist: unknown option\(s\) layers; allowed: aggregation, "):
        build_model("ssl_aasist", {"frontend": "tiny-random", "layers": 3})
    torch.manual_seed(0)
    x = torch.randn(2, 16000)
    for mode, n_layers in (("last", 1), ("softmax", 3), ("sls", 3)):
        model = build_model("ssl_aasist", {**ARCH, "aggregation": mode}).eval()
        feats = model.layer_features(x)
        assert feats.shape == (2, n_layers, 49, 32)  # 16000 samples -> 49 frames of 20 ms
        embedding, logits = model(x)
        assert embedding.shape == (2, 160) and logits.shape == (2, 2)
        torch.testing.assert_close(model.forward_features(feats)[1], logits)
    last = _model("last").eval()  # SSL-AASIST's feature: the final (layer-normed) output
    x = 0.3 * x + 0.1  # zero-mean, unit-variance normalisation happens inside
    normed = (x - x.mean(dim=1, keepdim=True)) / x.std(dim=1, unbiased=False, keepdim=True)
    with torch.no_grad():
        expected = last.frontend(normed).last_hidden_state
    torch.testing.assert_close(last.layer_features(x)[:, 0], expected, atol=1e-4, rtol=1e-4)


def test_gradient_reaches_aggregation_and_backend_not_frontend():
    torch.manual_seed(0)
    model = _model("sls").train()
    trainable = dict(model.named_parameters())
    assert not any(k.startswith("frontend") for k in trainable)
    assert not any(k.startswith("frontend") for k in model.state_dict())
    assert all(not p.requires_grad for p in model.frontend.parameters())
    embedding, logits = model(torch.randn(3, 8000))
    (logits[:, 1].sum() + embedding.pow(2).mean()).backward()
    assert model.aggregation.gate.weight.grad.abs().sum() > 0
    assert model.backend.LL.weight.grad.abs().sum() > 0
    assert model.backend.out_layer.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.frontend.parameters())
    softmax = _model("softmax").train()
    softmax(torch.randn(3, 8000))[1].sum().backward()
    assert softmax.aggregation.layer_logits.grad.abs().sum() > 0


def test_frontend_stays_in_eval_mode():
    model = _model("softmax").train()
    assert model.training and not model.frontend.training
    x = torch.randn(2, 8000)
    torch.testing.assert_close(model.layer_features(x), model.layer_features(x))  # no masking


def test_layer_weights():
    assert _model("last").layer_weights() is None
    softmax = _model("softmax").layer_weights()
    torch.testing.assert_close(softmax, torch.full((3,), 1 / 3))
    sls = _model("sls").eval()
    gates = sls.layer_weights(sls.layer_features(torch.randn(4, 8000)))
    assert gates.shape == (3,) and bool(((gates > 0) & (gates < 1)).all())
    with pytest.raises(ValueError, match="unknown aggregation 'mean'"):
        LayerAggregation("mean", 3, 32)


def test_sls_aggregation_by_hand():
    agg = LayerAggregation("sls", 2, 2)
    with torch.no_grad():
        agg.gate.weight.copy_(torch.tensor([[1.0, 0.0]]))
        agg.gate.bias.zero_()
    layers = torch.zeros(1, 2, 3, 2)
    layers[0, 0, :, 0] = 2.0  # layer 1: time mean (2, 0) -> gate sigmoid(2)
    layers[0, 1, :, 1] = 1.0  # layer 2: time mean (0, 1) -> gate sigmoid(0) = 0.5
    out = agg(layers)
    expected = torch.tensor([[2 * torch.sigmoid(torch.tensor(2.0)).item(), 0.5]] * 3)
    torch.testing.assert_close(out[0], expected)


def test_group_batches_keep_groups_together():
    groups = ["a", "b", "a", "c", "b", "d", "a", "e"]
    batches = group_batches(groups, 4, np.random.default_rng(0))
    assert sorted(i for b in batches for i in b) == list(range(8))
    for batch in batches:
        assert len(batch) <= 4
    for g in "ab":
        assert len({j for j, b in enumerate(batches) for i in b if groups[i] == g}) == 1
    singles = group_batches(list("abcdefg"), 3, np.random.default_rng(5))
    order = np.random.default_rng(5).permutation(7).tolist()
    assert singles == [order[0:3], order[3:6], order[6:]]


# --------------------------------------------------------------------------- training


def test_train_writes_metadata_layer_weights_and_scores(tmp_path, corpus):
    train, dev, shard = corpus
    options = {**OPTIONS, "rawboost": "lnl+isd"}
    model_path = train_detector(train, dev, tmp_path / "m", [str(shard)], "ssl_aasist", ARCH,
                                options)
    blob = torch.load(model_path, weights_only=True)
    assert blob["frontend"]["trained"] is False and "untrained" in blob["frontend"]["note"]
    assert blob["rawboost"]["algo"] == 5
    assert not any(k.startswith("frontend") for k in blob["state_dict"])
    header = (tmp_path / "m" / "train_log.csv").read_text().splitlines()[0]
    assert header == ("epoch,total,ce,enh,reg,dev_eer_percent,dev_ce,pair_batches,"
                      "anchors_with_positive,bonafide_views,seconds,clips_per_s")
    weights = json.loads((tmp_path / "m" / "layer_weights.json").read_text())
    assert weights["aggregation"] == "sls" and weights["layers"] == [1, 2, 3]
    assert weights["frontend"] == "tiny-random" and weights["frontend_trained"] is False
    assert all(0 < w < 1 for w in weights["weights"])
    assert blob["layer_weights"]["weights"] == weights["weights"]
    assert (tmp_path / "m" / "layer_weights.png").read_bytes()[:4] == b"\x89PNG"

    out = tmp_path / "scores.csv"
    assert main(["score", "--checkpoint", str(model_path), "--output", str(out),
                 "--eval-samples", "8000", str(dev)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 4 and all(np.isfinite(float(r["score"])) for r in rows)

    blob["frontend"]["sha256"] = "0" * 64  # as if trained on another front-end
    torch.save(blob, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="trained on front-end 'tiny-random'"):
        load_checkpoint(tmp_path / "other.pt")


def test_feature_cache_is_filled_once_and_reused(tmp_path, corpus, monkeypatch):
    train, dev, shard = corpus
    options = {**OPTIONS, "feature_cache": str(tmp_path / "cache"), "epochs": 1}
    first = train_detector(train, dev, tmp_path / "a", [str(shard)], "ssl_aasist", ARCH, options)
    info = torch.load(first, weights_only=True)["feature_cache"]
    assert info["computed"] == 8 + 8 + 4 and info["reused"] == 0
    files = sorted((tmp_path / "cache").rglob("*.npy"))
    assert len(files) == 20 and info["disk_bytes"] == sum(f.stat().st_size for f in files)
    feats = np.load(files[0])
    assert feats.dtype == np.float16 and feats.shape == (3, 24, 32)  # 8000 samples, 3 layers

    # The baseline (no shard) reuses the train and dev clips without running the front-end.
    def no_frontend(*args, **kwargs):
        raise AssertionError("front-end ran although its outputs are cached")

    monkeypatch.setattr(SSLAASIST, "layer_features", no_frontend)
    second = train_detector(train, dev, tmp_path / "b", [], "ssl_aasist", ARCH, options)
    assert torch.load(second, weights_only=True)["feature_cache"]["reused"] == 12


def test_cached_features_match_the_frontend(tmp_path, corpus):
    from reconfake.detector.data import AudioStore, fixed_crop, items_from_manifest
    from reconfake.detector.feature_cache import FeatureCache

    train, _, _ = corpus
    model = _model("sls")
    items = items_from_manifest(train)[:3]
    store = AudioStore()

    def compute(batch):
        return model.layer_features(torch.stack([torch.from_numpy(fixed_crop(store.load(it),
                                                                              8000))
                                                 for it in batch]))

    cache = FeatureCache(tmp_path / "c", model.cache_key())
    assert cache.fill(items, 8000, compute).computed == 3
    assert cache.fill(items, 8000, compute).computed == 0
    torch.testing.assert_close(cache.load(items, 8000), compute(items), atol=2e-3, rtol=1e-3)


def test_cache_refuses_augmentation_and_non_ssl_models(tmp_path, corpus):
    train, dev, _ = corpus
    with pytest.raises(ValueError, match="RawBoost changes the audio"):
        train_detector(train, dev, tmp_path / "a", [], "ssl_aasist", ARCH,
                       {**OPTIONS, "feature_cache": str(tmp_path / "c"), "rawboost": 3})
    with pytest.raises(ValueError, match="frozen SSL front-end"):
        train_detector(train, dev, tmp_path / "b", [], "mel_cnn", {"channels": [4]},
                       {**OPTIONS, "feature_cache": str(tmp_path / "c")})


def test_scoring_through_the_feature_cache(tmp_path, corpus, monkeypatch):
    train, dev, _ = corpus
    options = {**OPTIONS, "feature_cache": str(tmp_path / "cache"), "epochs": 1,
               "eval_samples": 8000}
    model_path = train_detector(train, dev, tmp_path / "m", [], "ssl_aasist", ARCH, options)
    plain, cached = tmp_path / "plain.csv", tmp_path / "cached.csv"
    assert main(["score", "--checkpoint", str(model_path), "--output", str(plain),
                 "--eval-samples", "8000", str(train)]) == 0
    before = len(list((tmp_path / "cache").rglob("*.npy")))
    assert main(["score", "--checkpoint", str(model_path), "--output", str(cached),
                 "--eval-samples", "8000", "--feature-cache", str(tmp_path / "cache"),
                 str(train)]) == 0
    # training cached the train clips at crop_samples = eval_samples: scoring adds nothing
    assert before == 8 + 4 and len(list((tmp_path / "cache").rglob("*.npy"))) == before
    a = {r["utt_id"]: float(r["score"]) for r in csv.DictReader(plain.open())}
    b = {r["utt_id"]: float(r["score"]) for r in csv.DictReader(cached.open())}
    assert a.keys() == b.keys() and len(a) == 8
    assert max(abs(a[k] - b[k]) for k in a) < 1e-2  # float16 features

    def no_frontend(*args, **kwargs):
        raise AssertionError("front-end ran although its outputs are cached")

    monkeypatch.setattr(SSLAASIST, "layer_features", no_frontend)
    again = tmp_path / "again.csv"
    assert main(["score", "--checkpoint", str(model_path), "--output", str(again),
                 "--eval-samples", "8000", "--feature-cache", str(tmp_path / "cache"),
                 str(train)]) == 0
    assert again.read_text() == cached.read_text()


def test_hub_frontend_goes_through_the_backends_resolver_with_the_pin(monkeypatch):
    """XLS-R 300M without a revision asks for the pinned safetensors commit; other ids get the
    revision given; a resolver error (offline, not cached) becomes FrontendUnavailable."""
    from reconfake.detector import ssl_frontend
    from reconfake.paradigms import hf_loading
    from reconfake.paradigms.registry import BackendError

    asked = []

    def fake_resolve(name, model, revision=None, *args, kind="backend", **kwargs):
        asked.append((model, revision, kind))
        raise BackendError(f"{kind} {name}: cannot load model {model!r}: not cached")

    monkeypatch.setattr(hf_loading, "resolve_model", fake_resolve)
    for source, revision in ((ssl_frontend.XLSR_300M, None), ("someone/w2v", None), ("someone/w2v", "v1")):
        with pytest.raises(FrontendUnavailable, match="front-end .*not cached; the offline default is "
                                                      "frontend: tiny-random"):
            load_wav2vec2(source, revision)
    assert asked == [(ssl_frontend.XLSR_300M, "081af4b2d98de3a437a3d2b4b7f9530f4a543097", "front-end"),
                     ("someone/w2v", None, "front-end"), ("someone/w2v", "v1", "front-end")]


def test_hub_frontend_loads_safetensors_from_a_snapshot(tmp_path, monkeypatch):
    from reconfake.paradigms import hf_loading

    twin = tiny_wav2vec2(**TINY, seed=5)
    snapshot = tmp_path / "snap" / "c"
    twin.save_pretrained(snapshot)
    commit = "f" * 40
    monkeypatch.setattr(hf_loading, "resolve_model",
                        lambda name, model, revision=None, *a, kind="backend", **k:
                        hf_loading.ModelSource(model, snapshot, revision, commit, local=False))
    loaded = load_wav2vec2("someone/w2v", "v1")
    assert frontend_fingerprint(loaded) == frontend_fingerprint(twin)
    assert loaded.reconfake_revision == commit


# --------------------------------------------------------------------------- recipe review


def _la_like(n_bona=10, n_spoof=90, recon=1):
    """ASVspoof 2019 LA's 1:9 ratio with ``recon`` reconstructions per clip (label spoof)."""
    groups, labels = [], []
    for i in range(n_bona):
        groups += [f"b{i}"] * (1 + recon)
        labels += [1] + [0] * recon
    for i in range(n_spoof):
        groups += [f"s{i}"] * (1 + recon)
        labels += [0] * (1 + recon)
    return groups, labels


def test_every_batch_has_two_bonafide_clips_at_the_19la_ratio():
    from reconfake.detector.data import batch_pair_stats, bonafide_batches

    groups, labels = _la_like()  # 10 bona fide + 90 spoof, each with its reconstruction
    old = group_batches(groups, 14, np.random.default_rng(0))
    old_stats = batch_pair_stats(old, labels)
    # the plain grouped shuffle: 3 of 15 batches have a pair, 40 % of bona fide clips no positive
    assert len(old) == 15 and old_stats["pair_batches"] == pytest.approx(0.2)
    assert old_stats["anchors_with_positive"] == pytest.approx(0.6)
    assert old_stats["bonafide_views"] == 1.0
    for seed in range(5):
        batches = bonafide_batches(groups, labels, 14, np.random.default_rng(seed))
        assert min(sum(labels[i] for i in b) for b in batches) >= 2
        assert max(len(b) for b in batches) <= 14
        assert set(i for b in batches for i in b) == set(range(200))  # every clip once at least
        for batch in batches:  # a bona fide clip comes with its reconstruction
            assert len(batch) == len(set(batch))
            for g in {groups[i] for i in batch}:
                assert sum(groups[i] == g for i in batch) == 2
        stats = batch_pair_stats(batches, labels)
        assert stats["pair_batches"] == 1.0 and stats["anchors_with_positive"] == 1.0
        # 90 spoof groups at 5 per batch -> 18 batches of 2 bona fide groups: 36 views of 10
        assert len(batches) == 18 and stats["bonafide_views"] == pytest.approx(3.6)
    # deterministic for a seed (exact resume), and 0 falls back to group_batches
    assert bonafide_batches(groups, labels, 14, np.random.default_rng(3)) == \
        bonafide_batches(groups, labels, 14, np.random.default_rng(3))
    assert bonafide_batches(groups, labels, 14, np.random.default_rng(0), 0) == old


def test_balanced_set_needs_no_repeats_and_big_groups_still_progress():
    from reconfake.detector.data import batch_pair_stats, bonafide_batches

    labels = [1] * 356 + [0] * 356  # the mini corpus: balanced, no shards
    batches = bonafide_batches([str(i) for i in range(712)], labels, 16, np.random.default_rng(0))
    stats = batch_pair_stats(batches, labels)
    assert len(batches) == 45 and stats["bonafide_views"] == 1.0
    assert stats["pair_batches"] == 1.0
    # groups of 3 in batches of 4: no two groups fit together; every group still comes, once
    groups, labels = _la_like(4, 8, recon=2)
    batches = bonafide_batches(groups, labels, 4, np.random.default_rng(0))
    assert sorted(i for b in batches for i in b) == list(range(36)) and len(batches) == 12


class _Store:
    """Audio by utt_id, for feeding _BatchSource without files."""

    def __init__(self, clips):
        self.clips = clips

    def load(self, item):
        return self.clips[item.utt_id]


def test_a_clip_and_its_reconstruction_share_crop_and_rawboost():
    from reconfake.detector.data import Item, pair_crop_offsets
    from reconfake.detector.rawboost import RawBoost
    from reconfake.train import TrainOptions, _BatchSource

    rng = np.random.default_rng(0)
    clip = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    other = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    # the reconstruction: half the level and 40 samples longer (generators pad)
    clips = {"a": clip, "a_rec": np.concatenate([0.5 * clip, np.zeros(40, np.float32)]),
             "b": other}
    batch = [Item("a", 1, "-", "a", "x"), Item("a_rec", 0, "rec", "a", "x"),
             Item("b", 0, "A01", "b", "x")]
    opts = TrainOptions(crop_samples=4000, random_crop=True)
    for algo in (0, 2):  # no augmentation; ISD, which is linear in the signal below clipping
        augment = RawBoost(algo) if algo else None
        source = _BatchSource(_Store(clips), opts, torch.device("cpu"), augment, None)
        for seed in range(3):
            x = source.train_inputs(batch, np.random.default_rng(seed),
                                    np.random.default_rng([seed, 1])).numpy()
            np.testing.assert_allclose(x[1], 0.5 * x[0], atol=1e-6)  # same offset, same draws
            assert not np.allclose(x[0], x[2])
            if algo:
                plain = _BatchSource(_Store(clips), opts, torch.device("cpu"), None, None)
                clean = plain.train_inputs(batch, np.random.default_rng(seed),
                                           np.random.default_rng([seed, 1])).numpy()
                assert np.abs(x[0] - clean[0]).max() > 1e-3  # RawBoost really acted
    offsets = pair_crop_offsets([16000, 16040, 16000, 3000], ["a", "a", "b", "c"], 4000,
                                np.random.default_rng(7))
    assert offsets[0] == offsets[1] and 0 <= offsets[0] <= 12000 and offsets[3] == 0


def _frontend_params(model):
    return {k: v.detach().clone() for k, v in model.frontend.state_dict().items()}


@pytest.mark.parametrize("trainable", [False, True])
def test_frontend_trainable_changes_frontend_weights_only_when_asked(trainable):
    from reconfake.train import TrainOptions, _param_groups

    torch.manual_seed(0)
    model = _model("sls", frontend_trainable=trainable).train()
    before = _frontend_params(model)
    pretrained = model.fingerprint()
    opts = TrainOptions(lr=1e-3, frontend_lr=1e-2)
    groups = _param_groups(model, opts)
    assert [g["lr"] for g in groups] == ([1e-3, 1e-2] if trainable else [1e-3])
    optimizer = torch.optim.Adam(groups)
    x = torch.randn(4, 8000)
    for _ in range(2):
        optimizer.zero_grad()
        embedding, logits = model(x)
        torch.nn.functional.cross_entropy(logits, torch.tensor([1, 0, 1, 0])).backward()
        optimizer.step()
    after = _frontend_params(model)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    if trainable:
        assert len(changed) > 0.5 * len(before)
        assert any(k.startswith("ssl_model.") for k in model.state_dict())
        assert model.fingerprint() == pretrained  # provenance: the pretrained weights
        assert model.cache_key() != _model("sls").cache_key()  # keyed by the current weights
        assert model.checkpoint_metadata()["frontend"]["fine_tuned"] is True
    else:
        assert changed == []
        assert not any(k.startswith("ssl_model.") for k in model.state_dict())


def test_trainable_frontend_trains_saves_and_refuses_the_cache(tmp_path, corpus):
    train, dev, _ = corpus
    arch = {**ARCH, "frontend_trainable": True}
    with pytest.raises(ValueError, match="frontend_trainable: true changes them"):
        train_detector(train, dev, tmp_path / "c", [], "ssl_aasist", arch,
                       {**OPTIONS, "feature_cache": str(tmp_path / "cache")})
    path = train_detector(train, dev, tmp_path / "m", [], "ssl_aasist", arch,
                          {**OPTIONS, "epochs": 1, "frontend_lr": 1e-3})
    blob = torch.load(path, weights_only=True)
    fresh = _model("sls")
    tuned = {k[len("ssl_model."):]: v for k, v in blob["state_dict"].items()
             if k.startswith("ssl_model.")}
    assert tuned.keys() == fresh.frontend.state_dict().keys()
    assert any(not torch.equal(v, fresh.frontend.state_dict()[k]) for k, v in tuned.items())
    assert blob["frontend"]["sha256"] == fresh.fingerprint()
    loaded, _ = load_checkpoint(path)  # rebuilds from the pretrained source, then loads the tuned
    assert frontend_fingerprint(loaded.frontend) != fresh.fingerprint()


def test_sls_and_softmax_read_raw_residual_layers_last_reads_the_normed_output():
    from reconfake.detector.ssl_aasist import CACHE_LAYOUT

    torch.manual_seed(0)
    x = torch.randn(2, 8000)
    sls, last = _model("sls").eval(), _model("last").eval()
    normed = (x - x.mean(dim=1, keepdim=True)) / torch.sqrt(x.var(dim=1, keepdim=True,
                                                                  unbiased=False) + 1e-7)
    with torch.no_grad():
        ref = sls.frontend(normed, output_hidden_states=True)
    layers = sls.layer_features(x)
    # the raw output of each block, as forward hooks on the blocks see it (fairseq layer_results)
    raw = []
    hooks = [blk.register_forward_hook(lambda m, a, out: raw.append(out[0] if isinstance(out, tuple)
                                                                     else out))
             for blk in sls.frontend.encoder.layers]
    with torch.no_grad():
        sls.frontend(normed)
    for h in hooks:
        h.remove()
    for k in range(3):
        torch.testing.assert_close(layers[:, k], raw[k])
    torch.testing.assert_close(layers[:, 0], ref.hidden_states[1])
    top_raw, top_normed = layers[:, 2], last.layer_features(x)[:, 0]
    torch.testing.assert_close(top_normed, ref.last_hidden_state)
    assert (top_raw - top_normed).abs().max() > 0.1  # layer L differs: no final layer norm
    assert float(top_normed.std()) == pytest.approx(1.0, abs=0.02)
    assert CACHE_LAYOUT == "ssl-layers-v2"
    assert sls.cache_key().endswith("layers1_2_3-raw")
    assert last.cache_key().endswith("layers3-normed")
    softmax = _model("softmax").eval()
    torch.testing.assert_close(softmax.layer_features(x), layers)
    # a checkpoint of an sls model from before this change saw the normed layer L: refused
    meta = sls.checkpoint_metadata()
    sls.check_checkpoint_metadata(meta)
    del meta["frontend"]["layer_outputs"]
    with pytest.raises(ValueError, match="retrain it"):
        sls.check_checkpoint_metadata(meta)
    last.check_checkpoint_metadata(meta)  # `last` features did not change
