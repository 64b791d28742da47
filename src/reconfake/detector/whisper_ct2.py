"""Read OpenAI Whisper weights from a CTranslate2 ``model.bin`` into a transformers model.

CTranslate2 (binary format version 6, written by ``ModelSpec._serialize``) stores, all
little-endian:

* a header: ``uint32`` version, the spec name (``uint16`` length incl. NUL, UTF-8, NUL),
  ``uint32`` spec revision, ``uint32`` number of variables;
* per variable, in alphabetical order: its name (string as above), ``uint8`` rank, ``rank``
  ``uint32`` dims, ``uint8`` dtype id (0 float32, 1 int8, 2 int16, 3 int32, 4 float16,
  5 bfloat16), ``uint32`` byte count, then the raw bytes;
* ``uint32`` number of aliases, then pairs (alias name, target name): a variable equal to an
  earlier one is stored once (Whisper's output projection is the token embedding).

Quantised weights carry a ``<name>_scale``: int8 weights are ``round(w * scale)`` with one
scale per output row, int16 ones use a single scalar scale; both are divided back here.

The Whisper spec maps onto transformers' ``WhisperForConditionalGeneration`` as:

* ``encoder/conv{1,2}``, ``encoder/position_encodings/encodings`` (the sinusoid table),
  ``encoder/layer_norm`` (gamma/beta = weight/bias);
* ``{encoder,decoder}/layer_i/self_attention/linear_0``: q, k and v stacked along the output
  rows (k's bias is zeros there: transformers' ``k_proj`` has none); ``linear_1``: ``out_proj``;
* ``decoder/layer_i/attention`` (cross-attention): ``linear_0`` = q, ``linear_1`` = k and v
  stacked, ``linear_2`` = ``out_proj``;
* ``ffn/linear_0`` / ``linear_1`` = ``fc1`` / ``fc2``; ``ffn/layer_norm`` = ``final_layer_norm``;
  the attention blocks' ``layer_norm`` is the pre-norm before them;
* ``decoder/embeddings/weight`` = ``embed_tokens`` (tied to ``proj_out``, whose CT2 name
  ``decoder/projection/weight`` is an alias), ``decoder/position_encodings`` = learned
  ``embed_positions``.

The scalars (``num_heads``, ``pre_norm``, ``activation`` ...) are checked against what
Whisper is, so a file of another architecture fails loudly instead of loading wrongly.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

BINARY_VERSION = 6
WHISPER_SPEC = "WhisperSpec"
# dtype ids of CTranslate2's DataType enum (include/ctranslate2/types.h).
DTYPES: dict[int, str] = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16",
                          5: "bfloat16"}
# CTranslate2's Activation enum value of exact (erf) GELU, which Whisper uses.
GELU = 3

PathLike = str | Path


class CT2FormatError(ValueError):
    """A CTranslate2 model file that cannot be read or is not a Whisper model."""


@dataclass
class CT2Model:
    """Variables of a CTranslate2 model file, dequantised, aliases resolved."""

    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)
    source: str = ""


class _Reader:
    """Bounds-checked little-endian cursor, so truncation names the file, not struct."""

    def __init__(self, data: bytes | memoryview, name: str):
        self.data, self.name, self.pos = memoryview(data), name, 0

    def take(self, n: int, what: str) -> memoryview:
        if self.pos + n > len(self.data):
            raise CT2FormatError(
                f"{self.name}: truncated CTranslate2 model (needed {n} bytes for {what} at "
                f"offset {self.pos}, file has {len(self.data)}); re-download or re-convert it, "
                "and give every part of a split model in order")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        n = self.unpack("H", what)
        raw = bytes(self.take(n, what))
        if not raw.endswith(b"\0"):
            raise CT2FormatError(f"{self.name}: malformed string for {what} at offset "
                                 f"{self.pos - n} (no NUL terminator); not a CTranslate2 model")
        return raw[:-1].decode("utf-8")


def _decode(raw: memoryview, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    if dtype == "bfloat16":
        # numpy has no bfloat16: go through torch's view of the same 16 bits.
        bits = torch.frombuffer(bytearray(raw), dtype=torch.int16) if len(raw) else torch.zeros(0)
        return bits.view(torch.bfloat16).float().numpy().reshape(shape)
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape).copy()


def read_ct2(paths: PathLike | Sequence[PathLike]) -> CT2Model:
    """Read a CTranslate2 ``model.bin`` (or its parts, concatenated in the order given).

    int8/int16 variables with a ``<name>_scale`` are dequantised to float32 and the scale
    dropped; float16/bfloat16 stay as stored (float16 numpy, bfloat16 as float32).
    """
    files = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not files:
        raise CT2FormatError("no CTranslate2 model file given")
    name = " + ".join(str(f) for f in files)
    for f in files:
        if not f.is_file():
            raise CT2FormatError(f"{f}: no such CTranslate2 model file")
    data = b"".join(f.read_bytes() for f in files) if len(files) > 1 else files[0].read_bytes()
    r = _Reader(data, name)
    version = r.unpack("I", "the format version")
    if version != BINARY_VERSION:
        raise CT2FormatError(
            f"{name}: not a CTranslate2 binary model of format version {BINARY_VERSION} (first "
            f"4 bytes read as version {version}); re-convert it with ctranslate2 >= 3 or check "
            "that the file (and the order of its parts) is right")
    spec = r.string("the spec name")
    revision = r.unpack("I", "the spec revision")
    count = r.unpack("I", "the variable count")
    raw: dict[str, np.ndarray] = {}
    for _ in range(count):
        var = r.string("a variable name")
        rank = r.unpack("B", f"the rank of {var}")
        shape = tuple(r.unpack("I", f"the shape of {var}") for _ in range(rank))
        type_id = r.unpack("B", f"the dtype of {var}")
        if type_id not in DTYPES:
            raise CT2FormatError(f"{name}: variable {var} has unknown dtype id {type_id} "
                                 f"(known: {DTYPES}); the file is corrupt or newer than this "
                                 "reader")
        nbytes = r.unpack("I", f"the byte count of {var}")
        dtype = DTYPES[type_id]
        expected = int(np.prod(shape, dtype=np.int64)) * (2 if dtype == "bfloat16" else
                                                          np.dtype(dtype).itemsize)
        if nbytes != expected:
            raise CT2FormatError(f"{name}: variable {var} of shape {shape} and dtype {dtype} "
                                 f"declares {nbytes} bytes, expected {expected}; corrupt file")
        raw[var] = _decode(r.take(nbytes, f"the data of {var}"), dtype, shape)
    aliases: dict[str, str] = {}
    for _ in range(r.unpack("I", "the alias count")):
        alias = r.string("an alias name")
        aliases[alias] = r.string(f"the target of alias {alias}")
    if r.pos != len(r.data):
        raise CT2FormatError(f"{name}: {len(r.data) - r.pos} unexpected bytes after the model; "
                             "a wrong or extra part was given")
    variables = _dequantise(raw, name)
    for alias, target in aliases.items():
        if target not in variables:
            raise CT2FormatError(f"{name}: alias {alias} points to missing variable {target}")
        variables[alias] = variables[target]
    return CT2Model(spec, revision, variables, aliases, name)


def _dequantise(raw: dict[str, np.ndarray], name: str) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for var, value in raw.items():
        if var.endswith("_scale") and var[:-len("_scale")] in raw:
            continue
        scale = raw.get(var + "_scale")
        if value.dtype in (np.int8, np.int16) and value.ndim >= 2:
            if scale is None:
                raise CT2FormatError(f"{name}: quantised variable {var} ({value.dtype}) has no "
                                     f"{var}_scale")
            scale = scale.astype(np.float32)
            if scale.ndim == 1 and scale.shape[0] == value.shape[0]:
                scale = scale.reshape((-1,) + (1,) * (value.ndim - 1))
            elif scale.size != 1:
                raise CT2FormatError(f"{name}: {var}_scale has shape {scale.shape}, expected a "
                                     f"scalar or one per row of {var} {value.shape}")
            value = value.astype(np.float32) / scale
        elif scale is not None:
            # A scale beside a float weight (int8 model run as float) carries no information.
            pass
        out[var] = value
    return out


# ----------------------------------------------------------------------------- conversion

_SCALARS = {"activation", "alibi", "alignment_heads", "alignment_layer", "num_heads",
            "pre_norm", "scale_embeddings", "start_from_zero_embedding", "alibi_use_positive_positions",
            "scale_alibi", "layernorm_embedding", "multi_query_attention", "parallel_residual",
            "shared_layer_norm", "rms_norm", "rotary_dim", "rotary_interleave",
            "rotary_scaling_type", "rotary_scaling_factor", "rotary_base", "num_heads_kv",
            "sliding_window", "pre_post_layer_norm", "head_dim", "qk_norm"}
# Values a scalar must have for the file to be a plain Whisper model (absent is fine).
_REQUIRED_SCALARS = {"decoder/activation": GELU, "decoder/pre_norm": 1, "decoder/alibi": 0,
                     "decoder/scale_embeddings": 0, "decoder/start_from_zero_embedding": 0}


def _linear(out: dict[str, torch.Tensor], hf: str, weight: np.ndarray,
            bias: np.ndarray | None) -> None:
    out[hf + ".weight"] = torch.from_numpy(np.ascontiguousarray(weight))
    if bias is not None:
        out[hf + ".bias"] = torch.from_numpy(np.ascontiguousarray(bias))


def _norm(out: dict[str, torch.Tensor], hf: str, v: dict[str, np.ndarray], ct2: str,
          used: set[str]) -> None:
    used.update({ct2 + "/gamma", ct2 + "/beta"})
    _linear(out, hf, v[ct2 + "/gamma"], v[ct2 + "/beta"])


def _attention(out: dict[str, torch.Tensor], hf: str, v: dict[str, np.ndarray], ct2: str,
               cross: bool, used: set[str], name: str) -> None:
    def get(key: str) -> np.ndarray:
        used.add(f"{ct2}/{key}")
        return v[f"{ct2}/{key}"]

    if cross:
        q_w, q_b = get("linear_0/weight"), get("linear_0/bias")
        kv_w, kv_b = np.split(get("linear_1/weight"), 2), np.split(get("linear_1/bias"), 2)
        (k_w, v_w), (k_b, v_b) = kv_w, kv_b
        out_w, out_b = get("linear_2/weight"), get("linear_2/bias")
    else:
        (q_w, k_w, v_w), (q_b, k_b, v_b) = (np.split(get("linear_0/weight"), 3),
                                            np.split(get("linear_0/bias"), 3))
        out_w, out_b = get("linear_1/weight"), get("linear_1/bias")
    if np.any(k_b != 0):
        # transformers' Whisper k_proj has no bias; a nonzero one would be silently lost.
        raise CT2FormatError(f"{name}: {ct2} has a nonzero key bias, which Whisper's k_proj "
                             "cannot hold; not an OpenAI Whisper model")
    _linear(out, hf + ".q_proj", q_w, q_b)
    _linear(out, hf + ".k_proj", k_w, None)
    _linear(out, hf + ".v_proj", v_w, v_b)
    _linear(out, hf + ".out_proj", out_w, out_b)
    _norm(out, hf + "_layer_norm", v, ct2 + "/layer_norm", used)


def _layer_count(v: dict[str, np.ndarray], prefix: str) -> int:
    ids = {int(m.group(1)) for k in v if (m := re.match(rf"{prefix}/layer_(\d+)/", k))}
    if ids != set(range(len(ids))):
        raise CT2FormatError(f"{prefix} layers are not numbered 0..n-1: {sorted(ids)}")
    return len(ids)


def _ffn_dim(v: dict[str, np.ndarray], side: str, layers: int, d_model: int) -> int:
    return v[f"{side}/layer_0/ffn/linear_0/weight"].shape[0] if layers else 4 * d_model


def _scalar(v: dict[str, np.ndarray], key: str) -> int:
    return int(np.asarray(v[key]).reshape(-1)[0])


def ct2_whisper_state_dict(model: CT2Model) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """transformers ``WhisperForConditionalGeneration`` tensors (float32) and the sizes read
    from their shapes. Every variable of the file must be used or be a known scalar."""
    name, v = model.source, model.variables
    if model.spec != WHISPER_SPEC:
        raise CT2FormatError(f"{name}: a CTranslate2 {model.spec!r} model, not {WHISPER_SPEC!r}")
    for key, want in _REQUIRED_SCALARS.items():
        if key in v and _scalar(v, key) != want:
            raise CT2FormatError(f"{name}: {key} = {_scalar(v, key)}, but Whisper has {want}")
    required = ["encoder/conv1/weight", "encoder/conv2/weight", "decoder/embeddings/weight",
                "encoder/position_encodings/encodings", "decoder/position_encodings/encodings",
                "encoder/num_heads", "decoder/num_heads"]
    missing = [k for k in required if k not in v]
    if missing:
        raise CT2FormatError(f"{name}: missing Whisper variables {missing}")
    fv = {k: (a.astype(np.float32) if a.dtype != np.float32 and a.ndim else a) for k, a in v.items()}
    used: set[str] = set()
    out: dict[str, torch.Tensor] = {}
    enc_layers, dec_layers = _layer_count(v, "encoder"), _layer_count(v, "decoder")
    for i in (1, 2):
        used.update({f"encoder/conv{i}/weight", f"encoder/conv{i}/bias"})
        _linear(out, f"model.encoder.conv{i}", fv[f"encoder/conv{i}/weight"],
                fv[f"encoder/conv{i}/bias"])
    used.add("encoder/position_encodings/encodings")
    out["model.encoder.embed_positions.weight"] = torch.from_numpy(
        fv["encoder/position_encodings/encodings"])
    _norm(out, "model.encoder.layer_norm", fv, "encoder/layer_norm", used)
    used.update({"decoder/embeddings/weight", "decoder/position_encodings/encodings"})
    out["model.decoder.embed_tokens.weight"] = torch.from_numpy(fv["decoder/embeddings/weight"])
    out["model.decoder.embed_positions.weight"] = torch.from_numpy(
        fv["decoder/position_encodings/encodings"])
    _norm(out, "model.decoder.layer_norm", fv, "decoder/layer_norm", used)
    proj = fv.get("decoder/projection/weight")
    if proj is not None:
        used.add("decoder/projection/weight")
        if not np.array_equal(proj, fv["decoder/embeddings/weight"]):
            raise CT2FormatError(f"{name}: decoder/projection/weight differs from the token "
                                 "embedding; Whisper ties them, so this is not a Whisper model")
    # proj_out is tied to embed_tokens in transformers: the same tensor under both names.
    out["proj_out.weight"] = out["model.decoder.embed_tokens.weight"]
    for side, count in (("encoder", enc_layers), ("decoder", dec_layers)):
        for i in range(count):
            ct2, hf = f"{side}/layer_{i}", f"model.{side}.layers.{i}"
            _attention(out, hf + ".self_attn", fv, ct2 + "/self_attention", False, used, name)
            if side == "decoder":
                _attention(out, hf + ".encoder_attn", fv, ct2 + "/attention", True, used, name)
            used.update(f"{ct2}/ffn/linear_{j}/{p}" for j in (0, 1) for p in ("weight", "bias"))
            _linear(out, hf + ".fc1", fv[ct2 + "/ffn/linear_0/weight"], fv[ct2 + "/ffn/linear_0/bias"])
            _linear(out, hf + ".fc2", fv[ct2 + "/ffn/linear_1/weight"], fv[ct2 + "/ffn/linear_1/bias"])
            _norm(out, hf + ".final_layer_norm", fv, ct2 + "/ffn/layer_norm", used)
    unexpected = sorted(k for k in v if k not in used and k.split("/")[-1] not in _SCALARS)
    if unexpected:
        raise CT2FormatError(f"{name}: unexpected variables for a Whisper model: "
                             f"{unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
    conv1 = fv["encoder/conv1/weight"]
    sizes = {
        "d_model": conv1.shape[0], "num_mel_bins": conv1.shape[1],
        "encoder_layers": enc_layers, "decoder_layers": dec_layers,
        "encoder_attention_heads": _scalar(v, "encoder/num_heads"),
        "decoder_attention_heads": _scalar(v, "decoder/num_heads"),
        "encoder_ffn_dim": _ffn_dim(fv, "encoder", enc_layers, conv1.shape[0]),
        "decoder_ffn_dim": _ffn_dim(fv, "decoder", dec_layers, conv1.shape[0]),
        "vocab_size": fv["decoder/embeddings/weight"].shape[0],
        "max_source_positions": fv["encoder/position_encodings/encodings"].shape[0],
        "max_target_positions": fv["decoder/position_encodings/encodings"].shape[0],
    }
    return out, sizes


def _special_ids(vocab_size: int, tokenizer_json: Path | None) -> dict[str, int | None]:
    """End-of-text and start-of-transcript ids: from the tokenizer when there is one, else
    OpenAI's layout (English-only vocabularies have 51864 entries, one fewer special);
    ``None`` where that falls outside a (test-sized) vocabulary."""
    english_only = vocab_size < 51865
    ids: dict[str, int] = {"eot": 50256 if english_only else 50257, "sot": 50257 if english_only else 50258}
    if tokenizer_json is not None and tokenizer_json.is_file():
        added = {t["content"]: t["id"] for t in
                 json.loads(tokenizer_json.read_text(encoding="utf-8")).get("added_tokens", [])}
        ids["eot"] = added.get("<|endoftext|>", ids["eot"])
        ids["sot"] = added.get("<|startoftranscript|>", ids["sot"])
    return {k: (i if i < vocab_size else None) for k, i in ids.items()}


def ct2_to_hf_whisper(paths: PathLike | Sequence[PathLike], config_json: PathLike | None = None,
                      tokenizer_json: PathLike | None = None):  # -> WhisperForConditionalGeneration
    """A ``WhisperForConditionalGeneration`` (float32, eval mode) holding the weights of a
    CTranslate2 Whisper ``model.bin`` (or its parts), loaded with ``strict=True``.

    The architecture comes from the tensor shapes; ``config_json`` (CTranslate2's
    ``config.json``, default: beside the first file) adds suppressed tokens and alignment
    heads; ``tokenizer_json`` (default: beside it too) gives the special token ids.
    """
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    ct2 = read_ct2(paths)
    state, sizes = ct2_whisper_state_dict(ct2)
    first = Path(paths) if isinstance(paths, (str, Path)) else Path(paths[0])
    config_path = Path(config_json) if config_json else first.parent / "config.json"
    extra = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    tok = Path(tokenizer_json) if tokenizer_json else first.parent / "tokenizer.json"
    special = _special_ids(sizes["vocab_size"], tok)
    config = WhisperConfig(
        **sizes, activation_function="gelu", scale_embedding=False,
        eos_token_id=special["eot"], bos_token_id=special["eot"], pad_token_id=special["eot"],
        suppress_tokens=extra.get("suppress_ids"),
        begin_suppress_tokens=extra.get("suppress_ids_begin"),
        tie_word_embeddings=True,
        # transformers insists on an int here; its default is fine for a test-sized vocabulary
        **({"decoder_start_token_id": special["sot"]} if special["sot"] is not None else {}),
    )
    if extra.get("alignment_heads"):
        config.alignment_heads = [list(h) for h in extra["alignment_heads"]]
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise CT2FormatError(f"{ct2.source}: converted names do not match transformers' Whisper: "
                             f"missing {missing[:6]}, unexpected {unexpected[:6]}")
    for key, tensor in state.items():
        if own[key].shape != tensor.shape:
            raise CT2FormatError(f"{ct2.source}: {key} has shape {tuple(tensor.shape)}, the "
                                 f"config implies {tuple(own[key].shape)}")
    model.load_state_dict(state, strict=True, assign=True)
    model.tie_weights()
    return model.float().eval()
