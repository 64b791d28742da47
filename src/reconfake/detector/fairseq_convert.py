"""Released SSL-AASIST checkpoints (a fairseq wav2vec 2.0 front-end) as reconfake ``ssl_aasist``.

SSL-AASIST's released models (``LA_model.pth``, ``DF_model.pth`` of TakHemlata/SSL_Anti-spoofing)
are plain ``torch.save`` state dicts of its ``Model``: the *fine-tuned* fairseq wav2vec 2.0
XLS-R 300M under ``ssl_model.model.*`` and the back-end at top level (``LL``, ``first_bn``,
``encoder``, ``pos_S``, ``GAT_layer_S``, ``HtrgGAT_layer_ST11``, ``pool_S``, ``out_layer``, ...).
:func:`convert_release` turns such a file into an :class:`~reconfake.detector.ssl_aasist.SSLAASIST`
and a state dict for it:

* the front-end is built from the file's own weights (fine-tuned, so not the hub's XLS-R),
  renamed to transformers' ``Wav2Vec2Model`` names (:func:`fairseq_to_transformers`), with the
  architecture read off the tensor shapes (:func:`infer_wav2vec2_config`): layers, width,
  feed-forward size, conv feature encoder (kernels, widths, bias, layer or group norm), the
  positional convolution (kernel, groups). What shapes do not tell is assumed as in XLS-R and
  can be overridden with ``frontend_config``: ``num_attention_heads`` (12 for width 768, else
  16), ``conv_stride`` (5, 2, 2, 2, 2, 2, 2), ``do_stable_layer_norm`` (pre-norm, fairseq's
  ``layer_norm_first``; assumed with a layer-normed conv encoder, as in XLS-R and wav2vec 2.0
  large-lv60), ``layer_norm_eps`` (1e-5);
* the features are SSL-AASIST's ``extract_feat``: fairseq ``model(x, mask=False,
  features_only=True)['x']`` of the raw waveform, i.e. the encoder output, which for a
  pre-norm encoder includes the final ``encoder.layer_norm`` (fairseq's
  ``TransformerEncoder.forward``) = transformers' ``last_hidden_state``. Hence
  ``aggregation: last`` and ``normalize_input: false`` (no per-clip normalisation);
* the back-end keys gain a ``backend.`` prefix (:class:`~reconfake.detector.aasist.SSLAASISTBackend`
  uses the released names); its widths (``proj_dim``, ``channels``) are read off the shapes.

Pre-training heads of the fairseq model (``quantizer``, ``project_q``, ``final_proj``,
``target_glu``, ``input_quantizer``, ``project_inp``) are dropped; ``mask_emb`` becomes
``masked_spec_embed`` (unused at inference). Any other key is an error naming it and the file.

A state dict with the back-end keys at top level but no front-end (``ssl_model.*`` removed) also
loads, onto the front-end named in the options (defaults ``aggregation: last``,
``normalize_input: false``); it is not the released model, whose front-end was fine-tuned.
The SLS release (QiShanZhang/SLSforADD: ``ssl_model.model.*`` + ``first_bn``, ``fc0``, ``fc1``,
``fc3``) is a different classifier (a fully connected head on a fixed-length input), not AASIST,
and is refused with an error that says so.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from transformers import Wav2Vec2Config, Wav2Vec2Model

from reconfake.detector.state_dicts import check_state_dict, head
from reconfake.options import reject_unknown

log = logging.getLogger("reconfake")

FRONTEND_PREFIX = "ssl_model.model."
RELEASE_DEFAULTS: dict[str, Any] = {"aggregation": "last", "normalize_input": False}
# Options a full release accepts: the rest of the model is fixed by the file.
RELEASE_OPTIONS = ("frontend_config", "normalize_input")
FRONTEND_CONFIG_OPTIONS = ("num_attention_heads", "conv_stride", "do_stable_layer_norm",
                           "layer_norm_eps")
XLSR_CONV_STRIDE = (5, 2, 2, 2, 2, 2, 2)

_POS = "encoder.pos_conv_embed.conv."
_CONV = "feature_extractor.conv_layers."
# fairseq wav2vec 2.0 (Wav2Vec2Model) -> transformers Wav2Vec2Model, as full-match patterns.
KEY_MAP: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(a), b) for a, b in (
    (r"feature_extractor\.conv_layers\.(\d+)\.0\.(weight|bias)", _CONV + r"\1.conv.\2"),
    # mode "layer_norm": Sequential(TransposeLast, LayerNorm, TransposeLast) at index 2
    (r"feature_extractor\.conv_layers\.(\d+)\.2\.1\.(weight|bias)", _CONV + r"\1.layer_norm.\2"),
    # mode "default": a GroupNorm at index 2 of the first layer only
    (r"feature_extractor\.conv_layers\.(0)\.2\.(weight|bias)", _CONV + r"\1.layer_norm.\2"),
    (r"layer_norm\.(weight|bias)", r"feature_projection.layer_norm.\1"),
    (r"post_extract_proj\.(weight|bias)", r"feature_projection.projection.\1"),
    (r"mask_emb", "masked_spec_embed"),
    (r"encoder\.pos_conv\.0\.bias", _POS + "bias"),
    (r"encoder\.pos_conv\.0\.weight_g", _POS + "parametrizations.weight.original0"),
    (r"encoder\.pos_conv\.0\.weight_v", _POS + "parametrizations.weight.original1"),
    (r"encoder\.pos_conv\.0\.parametrizations\.weight\.original([01])",
     _POS + r"parametrizations.weight.original\1"),
    (r"encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.(weight|bias)",
     r"encoder.layers.\1.attention.\2_proj.\3"),
    (r"encoder\.layers\.(\d+)\.self_attn_layer_norm\.(weight|bias)",
     r"encoder.layers.\1.layer_norm.\2"),
    (r"encoder\.layers\.(\d+)\.fc1\.(weight|bias)",
     r"encoder.layers.\1.feed_forward.intermediate_dense.\2"),
    (r"encoder\.layers\.(\d+)\.fc2\.(weight|bias)", r"encoder.layers.\1.feed_forward.output_dense.\2"),
    (r"encoder\.layers\.(\d+)\.final_layer_norm\.(weight|bias)",
     r"encoder.layers.\1.final_layer_norm.\2"),
    (r"encoder\.layer_norm\.(weight|bias)", r"encoder.layer_norm.\1"),
))
DROPPED = re.compile(r"(quantizer|input_quantizer|project_q|project_inp|final_proj|target_glu)\..+")

# The released top-level back-end (SSL_Anti-spoofing model.py ``Model``) has these modules.
BACKEND_MODULES = ("LL", "first_bn", "first_bn1", "encoder", "attention", "pos_S", "master1",
                   "master2", "GAT_layer_S", "GAT_layer_T", "HtrgGAT_layer_ST11",
                   "HtrgGAT_layer_ST12", "HtrgGAT_layer_ST21", "HtrgGAT_layer_ST22", "pool_S",
                   "pool_T", "pool_hS1", "pool_hT1", "pool_hS2", "pool_hT2", "out_layer")
SLS_MODULES = ("first_bn", "fc0", "fc1", "fc3")


def release_layout(state: dict[str, Any]) -> str | None:
    """Which released layout ``state`` is (``module.`` already stripped):

    ``ssl_aasist`` (fairseq front-end + SSL-AASIST back-end at top level), ``sls`` (fairseq
    front-end + SLSforADD head), ``fairseq`` (fairseq front-end + an unknown head),
    ``backend`` (SSL-AASIST back-end at top level, no front-end), or None (anything else,
    e.g. reconfake's own ``backend.*`` names)."""
    front = any(k.startswith(FRONTEND_PREFIX) for k in state)
    top = {k.split(".", 1)[0] for k in state if not k.startswith("ssl_model.")}
    aasist = {"LL", "out_layer", "GAT_layer_S"} <= top
    if front:
        if aasist:
            return "ssl_aasist"
        if {"fc0", "fc1", "fc3"} <= top:
            return "sls"
        return "fairseq"
    return "backend" if aasist and "backend" not in top else None


# --------------------------------------------------------------------------- front-end


def fairseq_to_transformers(state: dict[str, Tensor], name: str = "checkpoint") -> dict[str, Tensor]:
    """Rename a fairseq wav2vec 2.0 state dict (keys without ``ssl_model.model.``) to
    transformers ``Wav2Vec2Model`` names; pre-training heads are dropped; an unknown key is a
    ``ValueError`` naming the keys and ``name``."""
    out: dict[str, Tensor] = {}
    unknown = []
    for key, value in state.items():
        if DROPPED.fullmatch(key):
            continue
        for pattern, target in KEY_MAP:
            if pattern.fullmatch(key):
                out[pattern.sub(target, key)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"{name}: fairseq wav2vec 2.0 front-end has {len(unknown)} key(s) "
                         f"with no transformers Wav2Vec2Model counterpart: "
                         f"{head([FRONTEND_PREFIX + k for k in unknown])}")
    return out


def _indices(state: dict[str, Tensor], pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in state if (m := rx.fullmatch(k))})


def infer_wav2vec2_config(state: dict[str, Tensor], overrides: dict[str, Any] | None = None,
                          name: str = "checkpoint") -> Wav2Vec2Config:
    """The ``Wav2Vec2Config`` of a transformers-named wav2vec 2.0 state dict, read off its
    shapes; ``overrides`` (:data:`FRONTEND_CONFIG_OPTIONS`) set what shapes cannot tell."""
    overrides = dict(overrides or {})
    # the rest of the config is read off the weights' shapes
    reject_unknown(overrides, FRONTEND_CONFIG_OPTIONS, f"{name} frontend_config")
    try:
        convs = _indices(state, r"feature_extractor\.conv_layers\.(\d+)\.conv\.weight")
        conv_w = [state[f"{_CONV}{i}.conv.weight"] for i in convs]
        layers = _indices(state, r"encoder\.layers\.(\d+)\.attention\.q_proj\.weight")
        hidden, conv_out = state["feature_projection.projection.weight"].shape
        intermediate = state["encoder.layers.0.feed_forward.intermediate_dense.weight"].shape[0]
        pos_v = state[_POS + "parametrizations.weight.original1"]
    except (KeyError, IndexError) as exc:
        raise ValueError(f"{name}: not a complete wav2vec 2.0 front-end (no {exc})") from exc
    if not convs or not layers:
        raise ValueError(f"{name}: not a complete wav2vec 2.0 front-end ({len(convs)} conv "
                         f"layers, {len(layers)} transformer layers)")
    if convs != list(range(len(convs))) or layers != list(range(len(layers))):
        raise ValueError(f"{name}: front-end layer numbering has gaps (conv layers {convs}, "
                         f"transformer layers {layers})")
    normed = _indices(state, r"feature_extractor\.conv_layers\.(\d+)\.layer_norm\.weight")
    if normed == convs:
        norm = "layer"
    elif normed == [0]:
        norm = "group"
    else:
        raise ValueError(f"{name}: conv feature encoder norms on layers {normed} of {convs}: "
                         "neither layer norm on every layer nor group norm on the first")
    bias = [f"{_CONV}{i}.conv.bias" in state for i in convs]
    if len(set(bias)) > 1:
        raise ValueError(f"{name}: conv feature encoder has biases on some layers only")
    heads = overrides.pop("num_attention_heads", 12 if hidden == 768 else 16)
    if hidden % heads:
        raise ValueError(f"{name}: width {hidden} is not a multiple of {heads} attention heads; "
                         "give the front-end's head count as frontend_config: "
                         "{\"num_attention_heads\": N}")
    stride = tuple(overrides.pop("conv_stride", XLSR_CONV_STRIDE))
    if len(stride) != len(convs):
        raise ValueError(f"{name}: {len(convs)} conv layers but conv_stride {list(stride)}; give "
                         "the strides as frontend_config: {\"conv_stride\": [...]}")
    if conv_out != conv_w[-1].shape[0]:
        raise ValueError(f"{name}: feature projection takes {conv_out} channels but the conv "
                         f"encoder gives {conv_w[-1].shape[0]}")
    return Wav2Vec2Config(
        hidden_size=int(hidden), num_hidden_layers=len(layers), num_attention_heads=int(heads),
        intermediate_size=int(intermediate),
        conv_dim=tuple(int(w.shape[0]) for w in conv_w),
        conv_kernel=tuple(int(w.shape[2]) for w in conv_w), conv_stride=stride,
        conv_bias=bias[0], feat_extract_norm=norm,
        do_stable_layer_norm=overrides.pop("do_stable_layer_norm", norm == "layer"),
        num_conv_pos_embeddings=int(pos_v.shape[2]),
        num_conv_pos_embedding_groups=int(hidden // pos_v.shape[1]),
        # masked_spec_embed exists only when masking is configured
        mask_time_prob=0.05 if "masked_spec_embed" in state else 0.0,
        vocab_size=32, **overrides,
    )


def wav2vec2_from_state(state: dict[str, Tensor], overrides: dict[str, Any] | None = None,
                        name: str = "checkpoint") -> Wav2Vec2Model:
    """A ``Wav2Vec2Model`` (eval mode) holding exactly the transformers-named ``state``."""
    config = infer_wav2vec2_config(state, overrides, name)
    with torch.device("meta"):
        model = Wav2Vec2Model(config)
    check_state_dict(model.state_dict(), state,
                     f"{name}: front-end does not fit the wav2vec 2.0 architecture read off its "
                     "shapes (keys in transformers' names)")
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True, assign=True)
    for module in model.modules():  # non-persistent buffers, if any, were left on meta
        for key, buf in list(module.named_buffers(recurse=False)):
            if buf.is_meta:
                raise ValueError(f"{name}: front-end buffer {key} has no value")
    return model.eval()


# One release's front-end, converted and already in memory, handed to the front-end builder
# while convert_release builds the model (saves reading a 1.2 GB file twice).
_PRELOADED: dict[str, dict[str, Tensor]] = {}


@contextlib.contextmanager
def _preloaded(path: Path, state: dict[str, Tensor]) -> Iterator[None]:
    key = str(path.resolve())
    _PRELOADED[key] = state
    try:
        yield
    finally:
        _PRELOADED.pop(key, None)


def frontend_state(state: dict[str, Tensor], name: str = "checkpoint") -> dict[str, Tensor]:
    """The transformers-named front-end of a release state dict (``ssl_model.model.*``)."""
    return fairseq_to_transformers({k.removeprefix(FRONTEND_PREFIX): v for k, v in state.items()
                                    if k.startswith(FRONTEND_PREFIX)}, name)


def is_release_file(source: str) -> bool:
    """Whether a front-end source names a file (a released checkpoint) rather than a folder
    or a hub id."""
    return Path(source).expanduser().is_file()


def load_release_frontend(source: str, overrides: dict[str, Any] | None = None) -> Wav2Vec2Model:
    """The fine-tuned wav2vec 2.0 front-end stored in a released checkpoint file."""
    path = Path(source).expanduser()
    state = _PRELOADED.get(str(path.resolve()))
    if state is None:
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # noqa: BLE001 - a legacy (non-zip) file cannot be memory-mapped
            try:
                blob = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:
                raise ValueError(f"{path}: not a loadable weights file ({exc})") from exc
        if not isinstance(blob, dict):
            raise ValueError(f"{path}: not a state dict ({type(blob).__name__})")
        blob = {k.removeprefix("module."): v for k, v in blob.items()}
        if not any(k.startswith(FRONTEND_PREFIX) for k in blob):
            raise ValueError(f"{path}: no fairseq wav2vec 2.0 front-end ({FRONTEND_PREFIX}*) in "
                             "this file")
        state = frontend_state(blob, str(path))
    return wav2vec2_from_state(state, overrides, str(path))


@functools.lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file (remembered per path, size and modification time)."""
    stat = Path(path).stat()
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


# --------------------------------------------------------------------------- back-end


def backend_options(state: dict[str, Tensor]) -> dict[str, Any]:
    """``SSLAASISTBackend`` widths of a top-level release back-end, read off its shapes."""
    return {"proj_dim": int(state["LL.weight"].shape[0]),
            "channels": [int(state["encoder.0.0.conv1.weight"].shape[0]),
                         int(state["encoder.2.0.conv1.weight"].shape[0])]}


def backend_state(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The top-level back-end keys under reconfake's ``backend.`` prefix."""
    return {f"backend.{k}": v for k, v in state.items() if not k.startswith("ssl_model.")}


def convert_release(path: str | os.PathLike[str], state: dict[str, Tensor],
                    options: dict[str, Any] | None = None,
                    architecture: str | None = None) -> tuple[nn.Module, dict[str, Tensor],
                                                              dict[str, Any]] | None:
    """A released SSL-AASIST state dict as ``(model, state_dict, meta)`` for reconfake's
    ``ssl_aasist``, or None when ``state`` is no release layout (see the module docstring).

    ``state`` has ``module.`` stripped; its front-end tensors are removed from it. ``options``
    are ``ssl_aasist`` options: for a full release only ``frontend_config`` and
    ``normalize_input``; for a back-end alone, any (``frontend`` names its front-end).
    ``meta`` records the file (and its SHA-256) as the front-end's source.
    """
    from reconfake.detector.registry import build_model

    path = Path(path)
    layout = release_layout(state)
    if layout is None:
        return None
    top = sorted({k.split(".", 1)[0] for k in state if not k.startswith("ssl_model.")})
    if layout == "sls":
        raise ValueError(
            f"{path}: an SLS release (SLSforADD: fairseq front-end + first_bn/fc0/fc1/fc3). Its "
            "classifier (sigmoid layer gates, then fully connected layers on a fixed-length "
            "input) is not AASIST and is not supported; reconfake's aggregation: sls is SLS's "
            "layer weighting in front of the SSL-AASIST back-end, a different model that must "
            "be trained (reconfake train)")
    if layout == "fairseq":
        raise ValueError(f"{path}: a fairseq wav2vec 2.0 front-end ({FRONTEND_PREFIX}*) with an "
                         f"unknown head (top-level modules {top}); only SSL-AASIST's back-end "
                         f"({', '.join(BACKEND_MODULES[:3])}, ...) is supported")
    if architecture not in (None, "ssl_aasist"):
        raise ValueError(f"{path}: an SSL-AASIST release ({layout} layout), not architecture "
                         f"{architecture!r}; use --architecture ssl_aasist")
    unknown_top = [k for k in top if k not in BACKEND_MODULES]
    if unknown_top:
        raise ValueError(f"{path}: unknown top-level module(s) {unknown_top} beside the "
                         f"SSL-AASIST back-end (expected only {list(BACKEND_MODULES)})")
    options = dict(options or {})
    try:
        inferred = backend_options(state)
    except KeyError as exc:
        raise ValueError(f"{path}: SSL-AASIST back-end lacks {exc}") from exc
    if layout == "backend":
        log.warning("%s: an SSL-AASIST back-end without its front-end; loading it onto %s. The "
                    "released front-end was fine-tuned, so this is not the released model",
                    path, options.get("frontend", "the default front-end"))
        options = {**RELEASE_DEFAULTS, "backend": inferred, **options}
        model = build_model("ssl_aasist", options)
        return model, backend_state(state), {"architecture": "ssl_aasist",
                                             "arch_options": options, "release": layout}
    bad = sorted(set(options) - set(RELEASE_OPTIONS))
    if bad:
        raise ValueError(f"{path}: option(s) {bad} do not apply to a released SSL-AASIST model "
                         f"(its front-end, aggregation and back-end come from the file); "
                         f"allowed: {list(RELEASE_OPTIONS)}")
    front = frontend_state(state, str(path))
    for key in [k for k in state if k.startswith("ssl_model.")]:
        del state[key]
    options = {**RELEASE_DEFAULTS, "frontend": str(path.resolve()), "backend": inferred, **options}
    with _preloaded(path, front):
        model = build_model("ssl_aasist", options)
    del front
    meta = {"architecture": "ssl_aasist", "arch_options": options, "release": layout,
            "frontend": {"source": str(path.resolve()), "file_sha256": file_sha256(path),
                         "trained": True,
                         "note": "fine-tuned wav2vec 2.0 front-end of a released SSL-AASIST "
                                 "checkpoint (fairseq), converted to transformers"}}
    return model, backend_state(state), meta
