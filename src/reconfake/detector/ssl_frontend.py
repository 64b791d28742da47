"""The frozen wav2vec 2.0 front-end: loading from a Hugging Face id or a local folder, the
small random-weight twin of the embedded default, and a fingerprint of the weights.

The paper's front-end is XLS-R 300M (``facebook/wav2vec2-xls-r-300m``). Any wav2vec 2.0
checkpoint of the transformers ``Wav2Vec2Model`` family loads the same way; safetensors are
preferred when a repository has them (``.bin`` files are read with ``weights_only``).
Loading looks in the local Hugging Face cache first, so a cached model loads offline; a
model that is neither cached nor reachable fails at once with what to do.

``tiny-random`` names a small untrained Wav2Vec2Model of the same architecture as XLS-R
(stable layer norm, layer-normed conv feature encoder with biases, 20 ms frames), built with a
fixed seed, so the embedded default needs no download. Its features are random projections
of the audio, not speech representations: results with it validate the code, not the method.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import Wav2Vec2Config, Wav2Vec2Model

log = logging.getLogger("reconfake")

TINY_RANDOM = "tiny-random"
XLSR_300M = "facebook/wav2vec2-xls-r-300m"

# The twin keeps XLS-R's conv kernels and strides (400-sample receptive field, 320-sample hop)
# and shrinks only the widths and the depth.
TINY_DEFAULTS: dict[str, Any] = {"hidden_size": 64, "num_hidden_layers": 4,
                                 "num_attention_heads": 2, "intermediate_size": 128,
                                 "conv_channels": 32, "pos_conv_kernel": 16, "pos_conv_groups": 4}


class FrontendUnavailable(RuntimeError):
    """The front-end's weights cannot be found locally nor downloaded."""


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


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def load_wav2vec2(source: str, revision: str | None = None) -> Wav2Vec2Model:
    """A Wav2Vec2Model from a local folder (``save_pretrained`` layout) or a hub id.

    Hub ids are looked up in the local cache first; only when absent there (and
    ``HF_HUB_OFFLINE`` is unset) is a download tried. Raises :class:`FrontendUnavailable`
    naming the source and the fix when neither works.
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
    try:
        return Wav2Vec2Model.from_pretrained(source, revision=revision,
                                             local_files_only=True).eval()
    except OSError as cached_error:
        if _offline():
            raise FrontendUnavailable(_unavailable(source, revision)) from cached_error
    log.info("front-end %s is not in the Hugging Face cache; downloading it", source)
    try:
        return Wav2Vec2Model.from_pretrained(source, revision=revision).eval()
    except OSError as exc:
        raise FrontendUnavailable(_unavailable(source, revision)) from exc


def _unavailable(source: str, revision: str | None) -> str:
    at = f"@{revision}" if revision else ""
    return (f"cannot load the wav2vec 2.0 front-end {source}{at}: it is not in the Hugging Face "
            f"cache ({os.environ.get('HF_HOME', '~/.cache/huggingface')}) and the hub cannot be "
            "reached. On a machine with internet run `huggingface-cli download "
            f"{source}` (and copy the cache, or set HF_HOME), or save the model with "
            "save_pretrained and give its folder as the front-end; the offline default is "
            f"frontend: {TINY_RANDOM}")


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
