"""Released SSL-AASIST checkpoints (fairseq front-end under ``ssl_model.model.*``, back-end at top
level) load as ``ssl_aasist``. The release itself (1.2 GB) is not available offline, so each
test writes a small one in the same layout: a tiny random wav2vec 2.0 of XLS-R's architecture,
renamed INTO fairseq's names by this file's own map (written from fairseq's module names), plus
the pre-training heads the release carries and a random back-end under the release's top-level
names, saved with a plain ``torch.save``."""

import csv
import hashlib
import json

import numpy as np
import pytest
import torch
from transformers import Wav2Vec2Config, Wav2Vec2Model

from reconfake.audio import write_audio
from reconfake.cli import main
from reconfake.detector.aasist import SSLAASISTBackend
from reconfake.detector.fairseq_convert import convert_release
from reconfake.detector.inference import load_checkpoint
from reconfake.detector.ssl_aasist import SSLAASIST
from reconfake.detector.ssl_frontend import tiny_wav2vec2

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 64, "conv_channels": 16, "pos_conv_kernel": 8, "pos_conv_groups": 2}
BACKEND = {"proj_dim": 30, "channels": [8, 16]}  # not the defaults: widths are read off shapes
HEADS = {"frontend_config": {"num_attention_heads": 2}}  # head count is not in the shapes
SR, SAMPLES = 16000, 16000

# transformers Wav2Vec2Model encoder-layer modules -> fairseq TransformerSentenceEncoderLayer's
LAYER_TO_FAIRSEQ = {"attention.q_proj": "self_attn.q_proj", "attention.k_proj": "self_attn.k_proj",
                    "attention.v_proj": "self_attn.v_proj",
                    "attention.out_proj": "self_attn.out_proj",
                    "layer_norm": "self_attn_layer_norm",
                    "feed_forward.intermediate_dense": "fc1",
                    "feed_forward.output_dense": "fc2", "final_layer_norm": "final_layer_norm"}


def to_fairseq(hf: dict[str, torch.Tensor], group_norm: bool = False) -> dict[str, torch.Tensor]:
    """fairseq wav2vec 2.0 ``Wav2Vec2Model`` names of a transformers ``Wav2Vec2Model`` state."""
    out = {}
    for key, value in hf.items():
        *module, param = key.split(".")
        if key == "masked_spec_embed":
            name = "mask_emb"
        elif key.startswith("feature_extractor.conv_layers."):
            i, kind = module[2], module[3]
            # conv = Sequential(Conv1d, Dropout, norm, GELU); layer_norm mode wraps the LayerNorm
            # in Sequential(TransposeLast, LayerNorm, TransposeLast)
            where = "0" if kind == "conv" else ("2" if group_norm else "2.1")
            name = f"feature_extractor.conv_layers.{i}.{where}.{param}"
        elif key.startswith("feature_projection.layer_norm."):
            name = f"layer_norm.{param}"
        elif key.startswith("feature_projection.projection."):
            name = f"post_extract_proj.{param}"
        elif key.startswith("encoder.pos_conv_embed.conv."):  # weight_norm(Conv1d, dim=2)
            name = "encoder.pos_conv.0." + {"bias": "bias", "original0": "weight_g",
                                            "original1": "weight_v"}[param]
        elif key.startswith("encoder.layer_norm."):
            name = key
        else:
            assert module[:2] == ["encoder", "layers"], key
            name = f"encoder.layers.{module[2]}.{LAYER_TO_FAIRSEQ['.'.join(module[3:])]}.{param}"
        out[name] = value.clone()
    return out


def pretraining_heads(dim: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """What a fairseq pre-trained wav2vec 2.0 also holds (dropped on conversion)."""
    return {"quantizer.vars": torch.randn(1, 8, 4, generator=gen),
            "quantizer.weight_proj.weight": torch.randn(8, 16, generator=gen),
            "quantizer.weight_proj.bias": torch.randn(8, generator=gen),
            "project_q.weight": torch.randn(dim, 4, generator=gen),
            "project_q.bias": torch.randn(dim, generator=gen),
            "final_proj.weight": torch.randn(dim, dim, generator=gen),
            "final_proj.bias": torch.randn(dim, generator=gen)}


def random_backend(feature_dim: int, seed: int = 1) -> dict[str, torch.Tensor]:
    """A back-end with every tensor random (batch-norm statistics too)."""
    torch.manual_seed(seed)
    backend = SSLAASISTBackend(feature_dim=feature_dim, **BACKEND)
    state = backend.state_dict()
    for key, value in state.items():
        if key.endswith("running_var"):
            value.uniform_(0.5, 2.0)
        elif value.is_floating_point():
            value.normal_(0, 0.3)
    return state


def release(tmp_path, group_norm=False):
    """(path of a fake LA_model.pth, the tiny front-end, the back-end state)."""
    if group_norm:  # wav2vec 2.0 base style: group norm on the first conv, post-norm encoder
        config = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=64, conv_dim=(16,) * 7, conv_bias=False,
                                num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2,
                                feat_extract_norm="group", do_stable_layer_norm=False)
        torch.manual_seed(5)
        front = Wav2Vec2Model(config).eval()
    else:
        front = tiny_wav2vec2(**TINY, seed=7)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():  # no parameter left at its (often constant) initial value
        for p in front.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    fairseq = {**to_fairseq(front.state_dict(), group_norm), **pretraining_heads(32, gen)}
    backend = random_backend(32)
    state = {**{f"ssl_model.model.{k}": v for k, v in fairseq.items()},
             **{k: v.clone() for k, v in backend.items()}}
    # the names SSL_Anti-spoofing's Model gives its back-end
    for name in ("LL.weight", "first_bn.running_mean", "first_bn1.weight", "attention.0.weight",
                 "attention.2.running_var", "encoder.0.0.conv1.weight", "encoder.5.0.bn1.weight",
                 "encoder.2.0.conv_downsample.weight", "pos_S", "master1", "master2",
                 "GAT_layer_S.att_weight", "GAT_layer_T.bn.running_mean",
                 "HtrgGAT_layer_ST11.att_weight11", "HtrgGAT_layer_ST22.proj_without_attM.bias",
                 "pool_S.proj.weight", "pool_hT2.proj.bias", "out_layer.weight"):
        assert name in state, name
    path = tmp_path / "LA_model.pth"
    torch.save(state, path)
    return path, front, backend


def reference_model(tmp_path, front, backend):
    """Our own ssl_aasist on the original tiny weights: raw waveform, last_hidden_state."""
    front.save_pretrained(tmp_path / "w2v")
    model = SSLAASIST(frontend=str(tmp_path / "w2v"), aggregation="last", normalize_input=False,
                      backend=BACKEND)
    model.backend.load_state_dict(backend)
    return model.eval()


@pytest.mark.parametrize("group_norm", [False, True])
def test_conversion_recovers_the_original_tensors(tmp_path, group_norm):
    path, front, backend = release(tmp_path, group_norm)
    state = torch.load(path, weights_only=True)
    model, converted, meta = convert_release(path, state, HEADS, "ssl_aasist")
    assert not any(k.startswith("ssl_model.") for k in state)  # front-end tensors released
    got = model.frontend.state_dict()
    assert sorted(got) == sorted(front.state_dict())
    for key, value in front.state_dict().items():
        assert torch.equal(got[key], value), key
    assert sorted(converted) == sorted(f"backend.{k}" for k in backend)
    for key, value in backend.items():
        assert torch.equal(converted[f"backend.{key}"], value), key
    cfg, ref = model.frontend.config, front.config
    for attr in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                 "conv_dim", "conv_kernel", "conv_stride", "conv_bias", "feat_extract_norm",
                 "do_stable_layer_norm", "num_conv_pos_embeddings",
                 "num_conv_pos_embedding_groups"):
        assert tuple(np.atleast_1d(getattr(cfg, attr))) == tuple(np.atleast_1d(getattr(ref, attr))), attr
    assert meta["arch_options"]["aggregation"] == "last"
    assert meta["arch_options"]["normalize_input"] is False
    assert meta["arch_options"]["backend"] == BACKEND
    assert meta["frontend"]["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    x = torch.randn(2, 8000)
    with torch.no_grad():
        torch.testing.assert_close(model.frontend(x).last_hidden_state,
                                   front(x).last_hidden_state, rtol=0, atol=0)


def test_score_cli_matches_our_model_on_the_original_weights(tmp_path):
    path, front, backend = release(tmp_path)
    rng = np.random.default_rng(0)
    waves = (0.1 * rng.standard_normal((3, SAMPLES))).astype(np.float32)
    for i, x in enumerate(waves):
        write_audio(tmp_path / "wavs" / f"clip{i}.wav", x, SR, subtype="FLOAT")
    out = tmp_path / "scores.csv"
    assert main(["score", "--checkpoint", str(path), "--architecture", "ssl_aasist",
                 "--arch-options", json.dumps(HEADS), "--eval-samples", str(SAMPLES),
                 "--device", "cpu", "--output", str(out), str(tmp_path / "wavs")]) == 0
    scores = {r["utt_id"]: float(r["score"]) for r in csv.DictReader(out.open())}
    got = np.array([scores[f"clip{i}"] for i in range(len(waves))])
    with torch.no_grad():
        _, logits = reference_model(tmp_path, front, backend)(torch.from_numpy(waves))
    np.testing.assert_allclose(got, logits[:, 1].numpy(), atol=1e-5)
    # the raw waveform is fed: per-clip normalisation gives other scores
    model, meta = load_checkpoint(path, "ssl_aasist", {**HEADS, "normalize_input": True})
    with torch.no_grad():
        _, normed = model(torch.from_numpy(waves))
    assert not np.allclose(normed[:, 1].numpy(), got, atol=1e-3)
    # provenance: the file is the front-end's source
    assert meta["frontend"]["source"] == str(path.resolve())
    saved = model.checkpoint_metadata()["frontend"]
    assert saved["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert saved["source"] == str(path.resolve()) and saved["trained"] is True


def test_backend_alone_loads_onto_a_named_frontend(tmp_path):
    _, front, backend = release(tmp_path)
    path = tmp_path / "backend_only.pth"
    torch.save(backend, path)
    ref = reference_model(tmp_path, front, backend)
    model, _ = load_checkpoint(path, "ssl_aasist", {"frontend": str(tmp_path / "w2v")})
    x = torch.from_numpy((0.1 * np.random.default_rng(1).standard_normal((2, SAMPLES)))
                         .astype(np.float32))
    with torch.no_grad():
        torch.testing.assert_close(model(x)[1], ref(x)[1])


def test_unknown_and_missing_keys_are_named_with_the_file(tmp_path):
    path, _, _ = release(tmp_path)
    state = torch.load(path, weights_only=True)

    def fails(changed, match, options=HEADS, architecture="ssl_aasist"):
        bad = tmp_path / "bad.pth"
        torch.save(changed, bad)
        with pytest.raises(ValueError, match=match) as info:
            load_checkpoint(bad, architecture, options)
        assert str(bad) in str(info.value)

    extra = {**state, "ssl_model.model.encoder.layers.0.self_attn.rel_bias": torch.zeros(2)}
    fails(extra, r"no transformers Wav2Vec2Model counterpart.*"
                 r"ssl_model\.model\.encoder\.layers\.0\.self_attn\.rel_bias")
    missing = {k: v for k, v in state.items() if k != "ssl_model.model.encoder.layers.1.fc2.bias"}
    fails(missing, r"missing keys \[encoder\.layers\.1\.feed_forward\.output_dense\.bias\]")
    missing = {k: v for k, v in state.items() if k != "out_layer.bias"}
    fails(missing, r"missing keys \[backend\.out_layer\.bias\]")
    fails({**state, "fc_extra.weight": torch.zeros(2)}, r"unknown top-level module.*fc_extra")
    fails(state, r"use --architecture ssl_aasist", architecture="aasist")
    fails(state, r"option\(s\) \['aggregation'\] do not apply", {"aggregation": "sls"})
    fails(state, r"frontend_config: unknown option\(s\) heads; allowed: ",
          {"frontend_config": {"heads": 2}})


def test_sls_release_is_refused_clearly(tmp_path):
    path, _, _ = release(tmp_path)
    state = torch.load(path, weights_only=True)
    sls = {k: v for k, v in state.items() if k.startswith("ssl_model.")}
    sls.update({"first_bn.weight": torch.ones(1), "first_bn.bias": torch.zeros(1),
                "fc0.weight": torch.zeros(1, 32), "fc0.bias": torch.zeros(1),
                "fc1.weight": torch.zeros(32, 40), "fc1.bias": torch.zeros(32),
                "fc3.weight": torch.zeros(2, 32), "fc3.bias": torch.zeros(2)})
    bad = tmp_path / "SLS_model.pth"
    torch.save(sls, bad)
    with pytest.raises(ValueError, match=r"SLS_model\.pth: an SLS release.*not AASIST and is "
                                         r"not supported"):
        load_checkpoint(bad, "ssl_aasist")


def test_xlsr_300m_shapes_give_xlsr_300m():
    """The release's front-end shapes (built on the meta device: no memory) read as XLS-R 300M."""
    from reconfake.detector.fairseq_convert import frontend_state, infer_wav2vec2_config

    xlsr = Wav2Vec2Config(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                          intermediate_size=4096, conv_bias=True, feat_extract_norm="layer",
                          do_stable_layer_norm=True, num_conv_pos_embeddings=128,
                          num_conv_pos_embedding_groups=16)
    with torch.device("meta"):
        model = Wav2Vec2Model(xlsr)
    fairseq = to_fairseq({k: v for k, v in model.state_dict().items()})
    assert "encoder.layers.23.self_attn_layer_norm.weight" in fairseq
    cfg = infer_wav2vec2_config(frontend_state({f"ssl_model.model.{k}": v
                                                for k, v in fairseq.items()}))
    for attr in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                 "conv_dim", "conv_kernel", "conv_stride", "conv_bias", "feat_extract_norm",
                 "do_stable_layer_norm", "num_conv_pos_embeddings",
                 "num_conv_pos_embedding_groups", "layer_norm_eps", "hidden_act"):
        assert getattr(cfg, attr) == getattr(xlsr, attr), attr


def test_dataparallel_prefix_and_no_architecture_named(tmp_path):
    """A ``module.``-prefixed (DataParallel) release loads too; the layout names the
    architecture when --architecture is left out."""
    path, front, backend = release(tmp_path)
    state = torch.load(path, weights_only=True)
    wrapped = tmp_path / "wrapped.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, wrapped)
    model, meta = load_checkpoint(wrapped, None, HEADS)
    assert meta["architecture"] == "ssl_aasist" and meta["release"] == "ssl_aasist"
    x = torch.from_numpy((0.1 * np.random.default_rng(2).standard_normal((2, SAMPLES)))
                         .astype(np.float32))
    with torch.no_grad():
        torch.testing.assert_close(model(x)[1], reference_model(tmp_path, front, backend)(x)[1])
