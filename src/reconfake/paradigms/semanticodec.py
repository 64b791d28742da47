"""Diffusion paradigm: SemantiCodec (Liu et al. 2024), a semantic codec with a diffusion decoder.

The ``semanticodec`` package is not on PyPI and needs torchaudio, whose PyPI builds match one
torch release each (none matches this project's torch 2.13), so it lives in its own
environment: torch 2.9.1, torchvision 0.24.1 and torchaudio 2.9.1 with the package at
``PACKAGE_COMMIT`` and the pins of ``envs/semanticodec-constraints.txt``, built by
``make semanticodec-env`` (``scripts/setup_semanticodec_env.sh``) or by ``envs/reconstruct.yaml``
under ``--sdm conda``. Without it the backend raises :class:`BackendError` saying so (also when
torchaudio is installed but its extension fails to load, which raises ``OSError``); nothing here
installs it.

Weights: ``haoheliu/SemantiCodec`` on the Hub (MIT) at the pinned revision, fetched through the
shared loader and only for the chosen setting: ``semanticodec_tokenrate_<R>/{encoder,decoder}.ckpt``
and the semantic codebook ``codebook_idx/combine_<N>_audioset_dominate/codebook_<V/2>_0.npy``.
They are linked into a private directory handed to the package as ``checkpoint_path``, so the
package finds them locally and never downloads on its own (unpinned). The package reads them
with ``torch.load``, which torch >= 2.6 runs with ``weights_only=True`` (tensors only).

Audio stays in memory: the package's ``encode`` takes a file path and reads it with
``torchaudio.load`` (which torchaudio >= 2.9 routes through TorchCodec), so :meth:`features`
does what its ``load_audio`` does after reading (pad to whole 10.24 s windows, the package's own
Kaldi filterbank) on our waveform, and the package's encoder and ``decode`` run on that. The
test checks it against ``load_audio`` on the same clip written to a file.

Every window is 10.24 s: the AudioMAE encoder takes exactly 1024 filterbank frames and the
diffusion decoder a fixed 256-frame latent, so a 3.4 s clip costs a full window. Packing several
short clips into one window would let each clip's tokens and reconstruction depend on its
neighbours (AudioMAE and the decoder's U-Net attend over the whole window) and is not done.
Windows are batched instead: ``model_batch`` windows (default: ``batch_size`` on CUDA, 1 on CPU)
go through the encoder and each DDIM decode together, which fills a GPU but does not reduce the
computation. The decoder samples with DDIM eta 1 (fresh noise at every step) from torch's global
generator, seeded before each model call from ``seed`` and the clips in it; one window at a time
(the CPU default) a clip's output depends only on the clip and the seed, in a batch also on its
batch-mates' noise draws (the workflow's batches are fixed by the manifest, so reruns repeat).
Token rate 100/s with a 16384-entry semantic vocabulary is the 1.35 kbps setting; 25/50
tokens/s are lower rates.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import torch

from reconfake.audio import fit_length
from reconfake.paradigms.pretrained import COMMON_DEFAULTS, PretrainedBackend
from reconfake.paradigms.registry import BackendError, clip_seed, register

MODEL_ID = "haoheliu/SemantiCodec"
MODEL_REVISION = "3b6e7408ee4febb738db732875e8ece31cf5bdd2"
REPOSITORY = "https://github.com/haoheliu/SemantiCodec-inference"
PACKAGE_COMMIT = "7c05d426d2971505014b96fc151522f78ff2a265"  # its newest, 2025-03-07
TORCH_PAIR = "torch==2.9.1 torchvision==0.24.1 torchaudio==2.9.1"
INSTALL = (f"make semanticodec-env (scripts/setup_semanticodec_env.sh: a venv with {TORCH_PAIR}, "
           f"then pip install git+{REPOSITORY}.git@{PACKAGE_COMMIT} under "
           "envs/semanticodec-constraints.txt)")
SAMPLE_RATE = 16000
#: token rate -> folder of its semantic codebooks
CODEBOOK_FOLDERS = {25: "combine_128_audioset_dominate", 50: "combine_256_audioset_dominate",
                    100: "combine_512_audioset_dominate"}
VOCAB_SIZES = (4096, 8192, 16384, 32768)


def require_semanticodec() -> SimpleNamespace:
    """The package's parts this backend calls, or a :class:`BackendError` explaining the install."""
    try:
        from semanticodec import SemantiCodec
        from semanticodec import main as package
        from semanticodec.modules.decoder.latent_diffusion.models.ddpm import overlap_add_waveform
        from semanticodec.utils import extract_kaldi_fbank_feature
    except (ImportError, OSError) as exc:  # a torchaudio whose extension fails raises OSError
        raise BackendError(
            "backend semanticodec needs the `semanticodec` package, which is not on PyPI, with a "
            f"torchaudio matching its torch ({type(exc).__name__}: {exc}); build its environment "
            f"with {INSTALL}; its repository is {REPOSITORY}. Or drop the semanticodec entry "
            "from reconstruction.backends") from exc
    return SimpleNamespace(
        SemantiCodec=SemantiCodec, fbank=extract_kaldi_fbank_feature, overlap_add=overlap_add_waveform,
        segment_seconds=package.SEGMENT_DURATION, mel_frames=package.MEL_TARGET_LENGTH,
        patch_seconds=package.AUDIOMAE_PATCH_DURATION, overlap_ratio=package.SEGMENT_OVERLAP_RATIO)


def checkpoint_files(token_rate: int, vocab_size: int) -> dict[str, str]:
    """Repository paths of one setting's files, by the name the package looks for."""
    codebook = f"codebook_idx/{CODEBOOK_FOLDERS[token_rate]}/codebook_{vocab_size // 2}_0.npy"
    folder = f"semanticodec_tokenrate_{token_rate}"
    return {"encoder.ckpt": f"{folder}/encoder.ckpt", "decoder.ckpt": f"{folder}/decoder.ckpt",
            codebook: codebook}


@register
class SemanticodecBackend(PretrainedBackend):
    """SemantiCodec encode/decode (diffusion decoder) through the ``semanticodec`` package.

    Options: ``token_rate`` (25, 50 or 100 tokens/s), ``semantic_vocab_size`` (4096, 8192,
    16384 or 32768), ``ddim_sample_step`` (decoder steps, default 50), ``cfg_scale`` (decoder
    classifier-free guidance, default 2.0), ``seed`` and the shared options of
    :mod:`reconfake.paradigms.pretrained` (``model_batch``: 10.24 s windows per model call;
    ``bf16`` is not supported).
    """

    name = "semanticodec"
    paradigm = "diffusion"
    default_model = MODEL_ID
    default_revision = MODEL_REVISION
    licence = "MIT (haoheliu/SemantiCodec model card and repository)"
    defaults: ClassVar[dict[str, Any]] = {
        **COMMON_DEFAULTS, "chunk_seconds": None, "batch_size": 4, "token_rate": 100,
        "semantic_vocab_size": 16384, "ddim_sample_step": 50, "cfg_scale": 2.0, "seed": 0,
    }

    def __init__(self, device: str = "auto", **options: Any):
        self.package = require_semanticodec()  # before fetching gigabytes of weights
        merged = {**self.defaults, **options}
        self.token_rate = int(merged["token_rate"])
        self.vocab_size = int(merged["semantic_vocab_size"])
        if self.token_rate not in CODEBOOK_FOLDERS or self.vocab_size not in VOCAB_SIZES:
            raise BackendError(f"backend semanticodec: token_rate {self.token_rate} / "
                               f"semantic_vocab_size {self.vocab_size}; use token_rate in "
                               f"{sorted(CODEBOOK_FOLDERS)} and a vocabulary in {VOCAB_SIZES}")
        if merged.get("bf16"):
            raise BackendError("backend semanticodec: bf16 is not supported (the package picks "
                               "its own precision)")
        super().__init__(device=device, **options)

    def allow_patterns(self) -> list[str]:
        return list(checkpoint_files(self.token_rate, self.vocab_size).values())

    def load(self, path: Path) -> None:
        self._staging = tempfile.TemporaryDirectory(prefix="semanticodec-")
        stage = Path(self._staging.name)
        for name, rel in checkpoint_files(self.token_rate, self.vocab_size).items():
            src = path / rel
            if not src.is_file():
                raise BackendError(f"backend semanticodec: {src} is missing; {self.source.model} "
                                   "must have the layout of the haoheliu/SemantiCodec repository")
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            (stage / name).symlink_to(src.resolve())
        self.codec = self.package.SemantiCodec(
            token_rate=self.token_rate, semantic_vocab_size=self.vocab_size,
            ddim_sample_step=int(self.options["ddim_sample_step"]),
            cfg_scale=float(self.options["cfg_scale"]), checkpoint_path=str(stage))
        # The package and its decoder (whose DDIM sampler puts its schedule on decoder.device)
        # pick CUDA by themselves; honour the device option instead.
        self.codec.device = self.torch_device
        for part in ("encoder", "decoder"):
            module = getattr(self.codec, part, None)
            if isinstance(module, torch.nn.Module):
                module.to(self.torch_device).eval()
                module.device = self.torch_device
        # The package's uniform DDIM schedule takes every (T // steps)-th of the T training steps,
        # plus one: a count whose last pick lands on T - 1 (3, 9, 27, 36, 37, 101-111 of 1000) fails.
        steps, total = self.codec.ddim_sample_step, int(getattr(self.codec.decoder, "num_timesteps", 1000))
        if not 1 <= steps <= total or (total // steps) * ((total - 1) // (total // steps)) + 1 >= total:
            good = [n for n in (10, 20, 25, 50, 100, 200) if n <= total]
            raise BackendError(f"backend semanticodec: ddim_sample_step {steps} is not one the package "
                               f"can sample with {total} training steps (e.g. {good})")
        encoder = self.codec.encoder
        if isinstance(getattr(encoder, "centroid_npy", None), torch.Tensor):  # a plain attribute
            encoder.centroid_npy = encoder.centroid_npy.to(self.torch_device)
        self.sample_rate = SAMPLE_RATE
        self.seed = int(self.options["seed"])
        self.window_tokens = int(512 / self.codec.stack_factor_K)

    # -- the package's load_audio / encode / decode, in memory and batched ----------------------

    def features(self, clip: np.ndarray) -> tuple[torch.Tensor, int]:
        """What the package's ``load_audio`` returns for ``clip`` (16 kHz) read from a file: the
        normalised Kaldi filterbank of the clip padded to whole 10.24 s windows, [1, 1024 n, 128],
        and the clip's token count (``encode`` keeps that many)."""
        pkg = self.package
        waveform = torch.from_numpy(np.ascontiguousarray(clip, dtype=np.float32)).reshape(1, -1)
        duration = waveform.shape[1] / SAMPLE_RATE  # same float steps as load_audio
        duration = duration + (pkg.patch_seconds - duration % pkg.patch_seconds)
        tokens = 8 * duration / pkg.patch_seconds / self.codec.stack_factor_K
        segment = int(SAMPLE_RATE * pkg.segment_seconds)
        waveform = torch.cat([waveform, torch.zeros(1, int(segment - waveform.shape[1] % segment))],
                             dim=1)
        frames = pkg.mel_frames * int(waveform.shape[1] / segment)
        mel = pkg.fbank(waveform, SAMPLE_RATE, target_length=frames)["ta_kaldi_fbank"]
        return mel.unsqueeze(0).squeeze(1), math.ceil(tokens)

    def encode(self, clips: list[np.ndarray]) -> list[torch.Tensor]:
        """Tokens [1, n, 2] per clip (the package's ``encode``), the clips' windows batched."""
        feats = [self.features(c) for c in clips]
        frames = self.package.mel_frames
        windows = torch.cat([mel[0].reshape(-1, frames, mel.shape[-1]) for mel, _ in feats])
        tokens = torch.cat([self.codec.encoder(windows[i:i + self.model_batch].to(self.torch_device))
                            for i in range(0, len(windows), self.model_batch)])  # [windows, n, 2]
        out, k = [], 0
        for mel, keep in feats:
            n = mel.shape[1] // frames
            out.append(tokens[k:k + n].reshape(1, -1, tokens.shape[-1])[:, :keep])
            k += n
        return out

    def _latent(self, window: torch.Tensor) -> torch.Tensor:
        """The decoder's condition for one token window [1, n, 2], padded with -1 as in decode."""
        latent = self.codec.encoder.token_to_quantized_feature(window)
        pad = torch.full((1, self.window_tokens - latent.shape[1], latent.shape[2]), -1.0,
                         device=latent.device, dtype=latent.dtype)
        return torch.cat([latent, pad], dim=1)

    def decode(self, tokens: list[torch.Tensor]) -> list[np.ndarray]:
        """Waveforms per clip (the package's ``decode``), ``model_batch`` windows per DDIM run."""
        pkg, encoder = self.package, self.codec.encoder
        windows = [encoder.long_token_split_window(t, window_length=self.window_tokens,
                                                   overlap=pkg.overlap_ratio) for t in tokens]
        latents = [self._latent(w) for ws in windows for w in ws]
        waves: list[np.ndarray] = []
        for i in range(0, len(latents), self.model_batch):
            batch = torch.cat(latents[i:i + self.model_batch])
            out = self.codec.decoder.generate_sample(
                batch, ddim_steps=self.codec.ddim_sample_step,
                unconditional_guidance_scale=self.codec.cfg_scale)
            waves.extend(np.asarray(out[j:j + 1]) for j in range(len(batch)))
        outputs, k = [], 0
        for t, ws in zip(tokens, windows, strict=True):
            audio = pkg.overlap_add(waves[k:k + len(ws)],
                                    overlap_duration=pkg.segment_seconds * pkg.overlap_ratio)
            k += len(ws)
            keep = (t.shape[1] / 8) * 16 * 0.01 * self.codec.stack_factor_K  # as decode trims
            outputs.append(np.asarray(audio, dtype=np.float32)[..., :int(keep * SAMPLE_RATE)].reshape(-1))
        return outputs

    def forward(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        clips = [np.asarray(c, dtype=np.float32).reshape(-1) for c in clips]
        torch.manual_seed(clip_seed(self.seed, np.concatenate(clips)) if len(clips) > 1
                          else clip_seed(self.seed, clips[0]))
        tokens = self.encode(clips)
        return [fit_length(a, len(c)) for a, c in zip(self.decode(tokens), clips, strict=True)]

    @torch.inference_mode()
    def bare_forward(self, clip: np.ndarray) -> np.ndarray:
        return self.forward([clip])[0]

    def model_settings(self) -> dict[str, Any]:
        return {"token_rate": self.token_rate, "semantic_vocab_size": self.vocab_size,
                "files": checkpoint_files(self.token_rate, self.vocab_size),
                "package_repository": REPOSITORY, "package_commit": PACKAGE_COMMIT,
                "window_seconds": self.package.segment_seconds}
