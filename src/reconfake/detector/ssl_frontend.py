"""The frozen wav2vec 2.0 front-end: loading from a Hugging Face id or a local folder, the
small random-weight twin of the embedded default, and a fingerprint of the weights.

The paper's front-end is XLS-R 300M (``facebook/wav2vec2-xls-r-300m``), pinned to commit
081af4b2d98de3a437a3d2b4b7f9530f4a543097: the Hub's safetensors conversion (``refs/pr/2``,
``model.safetensors``, 1 269 615 400 bytes, sha256 683ca455...) of the repository's current main
commit 1a640f32ac3e39899438a2931f9924c02f080a54 (2022-08-10), whose own weights exist only as a
pickled ``pytorch_model.bin`` (huggingface.co/facebook/wav2vec2-xls-r-300m/commit/081af4b...).
The pin applies to that default id when no revision is given; other ids load at the revision
given (the default branch, logged as unpinned, otherwise).

A Hub id goes through the same resolver as the reconstruction backends
(:func:`reconfake.paradigms.hf_loading.resolve_model`): configs and ``*.safetensors`` only,
never a pickle; offline (``HF_HUB_OFFLINE=1`` or ``TRANSFORMERS_OFFLINE=1``) it reads the
local cache only; a model that is neither
cached nor reachable fails at once naming the id, the revision and the fix. The commit it
resolved to is logged and kept on the model as ``reconfake_revision``. A local folder
(``save_pretrained`` layout) loads as is.

``tiny-random`` names a small untrained Wav2Vec2Model of the same architecture as XLS-R
(stable layer norm, layer-normed conv feature encoder with biases, 20 ms frames), built with a
fixed seed, so the embedded default needs no download. Its features are random projections
of the audio, not speech representations: results with it validate the code, not the method.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import Wav2Vec2Config, Wav2Vec2Model

from reconfake.detector.frontend_errors import FrontendUnavailable

log = logging.getLogger("reconfake")

TINY_RANDOM = "tiny-random"
XLSR_300M = "facebook/wav2vec2-xls-r-300m"
XLSR_300M_REVISION = "081af4b2d98de3a437a3d2b4b7f9530f4a543097"  # safetensors of main 1a640f3
PINNED_REVISIONS = {XLSR_300M: XLSR_300M_REVISION}

# The twin keeps XLS-R's conv kernels and strides (400-sample receptive field, 320-sample hop)
# and shrinks only the widths and the depth.
TINY_DEFAULTS: dict[str, Any] = {"hidden_size": 64, "num_hidden_layers": 4,
                                 "num_attention_heads": 2, "intermediate_size": 128,
                                 "conv_channels": 32, "pos_conv_kernel": 16, "pos_conv_groups": 4}


def tiny_wav2vec2(hidden_size: int = 64, num_hidden_layers: int = 4, num_attention_heads: int = 2,
                  intermediate_size: int = 128, conv_channels: int = 32,
                  pos_conv_kernel: int = 16, pos_conv_groups: int = 4,
                  seed: int = 0) -> Wav2Vec2Model:
    """A small random-weight Wav2Vec2Model with XLS-R's architecture, the same for a seed.

    The global torch RNG is left untouched (the weights come from a forked generator), so
    building the twin does not shift the randomness of whatever runs next.
    """
    config = Wav2Vec2Config(
        hidden_size=hidden_size, num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads, intermediate_size=intermediate_size,
        conv_dim=(conv_channels,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        conv_stride=(5, 2, 2, 2, 2, 2, 2), num_conv_pos_embeddings=pos_conv_kernel,
        num_conv_pos_embedding_groups=pos_conv_groups, do_stable_layer_norm=True,
        feat_extract_norm="layer", conv_bias=True, vocab_size=32,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Wav2Vec2Model(config)
    return model.eval()


def load_wav2vec2(source: str, revision: str | None = None) -> Wav2Vec2Model:
    """A Wav2Vec2Model from a local folder (``save_pretrained`` layout) or a hub id.

    A hub id is resolved by :func:`reconfake.paradigms.hf_loading.resolve_model` at
    ``revision`` (for XLS-R 300M without one: the pinned commit), safetensors only, the local
    cache alone under ``HF_HUB_OFFLINE``. Raises :class:`FrontendUnavailable` naming the
    source, the revision and the fix when the weights cannot be had.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise FrontendUnavailable(f"{path}: no config.json; expected a folder written by "
                                      "Wav2Vec2Model.save_pretrained (config.json + "
                                      "model.safetensors)")
        return Wav2Vec2Model.from_pretrained(path, local_files_only=True).eval()
    if path.exists() or source.startswith((".", "/", "~")):
        raise FrontendUnavailable(f"{source}: not a front-end folder (expected a folder "
                                  "written by save_pretrained, or a Hugging Face id)")
    from reconfake.paradigms.hf_loading import load_weights, resolve_model
    from reconfake.paradigms.registry import BackendError

    if revision is None:
        revision = PINNED_REVISIONS.get(source)
    try:
        weights = resolve_model(source, source, revision, kind="front-end")
        model = load_weights(Wav2Vec2Model.from_pretrained, weights, source, kind="front-end")
    except BackendError as exc:
        raise FrontendUnavailable(f"{exc}; the offline default is frontend: {TINY_RANDOM}") from exc
    log.info("front-end %s: revision %s, commit %s", source, revision or "main", weights.resolved)
    model.reconfake_revision = weights.resolved
    return model.eval()


def build_frontend(source: str, revision: str | None = None, seed: int = 0,
                   tiny: dict[str, Any] | None = None,
                   release_config: dict[str, Any] | None = None) -> nn.Module:
    """The front-end named by ``source``: ``tiny-random`` (options ``tiny``), a folder or an id;
    a Whisper source gives a :class:`~reconfake.detector.whisper_frontend.WhisperFrontend`; a
    file is a released SSL-AASIST checkpoint whose fine-tuned fairseq front-end is converted
    (options ``release_config``; see :mod:`reconfake.detector.fairseq_convert`)."""
    from reconfake.detector.fairseq_convert import is_release_file, load_release_frontend
    from reconfake.detector.whisper_frontend import is_whisper_source, load_whisper_frontend

    if source != TINY_RANDOM and is_release_file(source):
        if tiny:
            raise ValueError(f"front-end option 'tiny' only applies to frontend: {TINY_RANDOM}")
        return load_release_frontend(source, release_config)
    if release_config:
        raise ValueError("front-end option 'frontend_config' only applies to a released "
                         "checkpoint file as the front-end")
    if source != TINY_RANDOM and is_whisper_source(source):
        if tiny:
            raise ValueError(f"front-end option 'tiny' only applies to frontend: {TINY_RANDOM}")
        return load_whisper_frontend(source, revision)
    if source == TINY_RANDOM:
        return tiny_wav2vec2(**{**TINY_DEFAULTS, **(tiny or {})}, seed=seed)
    if tiny:
        raise ValueError(f"front-end option 'tiny' only applies to frontend: {TINY_RANDOM}")
    return load_wav2vec2(source, revision)


def frontend_fingerprint(model: nn.Module) -> str:
    """SHA-256 of the configuration and every weight: two front-ends with the same
    fingerprint compute the same features."""
    digest = hashlib.sha256()
    config = model.config.to_dict()
    for volatile in ("transformers_version", "_name_or_path", "architectures", "torch_dtype",
                     "dtype"):
        config.pop(volatile, None)
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()
