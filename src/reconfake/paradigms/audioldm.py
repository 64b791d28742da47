"""Diffusion paradigm: SDEdit through AudioLDM's latent diffusion (Liu et al. 2023), via diffusers.

Default checkpoint ``cvssp/audioldm-s-full-v2`` (diffusers layout: ``vae/`` AutoencoderKL over
64-band log-mels, ``unet/`` UNet2DConditionModel, ``scheduler/`` DDIM settings, ``vocoder/``
SpeechT5HifiGan at 16 kHz with hop 160, ``text_encoder/`` + ``tokenizer/`` CLAP text tower).
Only the components are used, not ``AudioLDMPipeline`` (deprecated in diffusers).

A clip (at most ``chunk_seconds``, default 10.24 s = AudioLDM's training length; longer clips
are cut into overlapping windows) is

1. normalised as in AudioLDM's training (mean removed, peak scaled to 0.5, at most +40 dB);
2. analysed to AudioLDM's log-mel: 16 kHz, Hann window and FFT 1024, hop 160, 64 Slaney bands
   0-8 kHz, ``log(max(mel, 1e-5))``; frames are padded with that silence value to a multiple
   of the VAE x UNet down-sampling (32 for the real model);
3. encoded by the VAE (posterior mode, times ``scaling_factor``), noised to ``strength`` with
   noise drawn from a generator seeded by ``seed`` and the clip's samples (so a clip gets the
   same output in any batch), and denoised by DDIM (eta 0) in ``steps`` steps: the last
   ``steps`` of a ``steps / strength``-step schedule, so denoising starts near ``strength``;
4. decoded by the VAE, vocoded, trimmed to the clip and scaled back by the inverse gain.

Conditioning. AudioLDM's UNet is not conditioned by cross-attention on text: its
``simple_projection`` class embedding takes one L2-normalised 512-d CLAP embedding, concatenated
to the time embedding (FiLM-like); during training that slot held the CLAP *audio* embedding,
replaced by the CLAP *text* embedding of the empty prompt "" for classifier-free dropout. So
``condition: empty_text`` (default) feeds the model's own unconditional token, computed once at
load time with the CLAP text tower and then discarded; ``condition: zeros`` feeds a zero vector
(no text tower needed, but off the training distribution). No guidance is applied (scale 1).
Chunks of one batch run together when their padded frame counts match.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from reconfake.audio import pad_to_at_least
from reconfake.features import MelSpec
from reconfake.paradigms.hf_loading import load_weights
from reconfake.paradigms.pretrained import COMMON_DEFAULTS, PretrainedBackend
from reconfake.paradigms.registry import BackendError, clip_seed, register
from reconfake.paradigms.sdedit import sdedit_timesteps

MODEL_ID = "cvssp/audioldm-s-full-v2"
# merge of the safetensors conversion (#1); later commits touch only the README
MODEL_REVISION = "bef13a486a2a536162324de2d506c0c2d3db2ff0"
CONDITIONS = ("empty_text", "zeros")
PEAK = 0.5          # AudioLDM normalises training audio to this peak
MAX_GAIN = 100.0    # ...but near-silent clips are not boosted by more than 40 dB
WINDOW = 1024       # AudioLDM's STFT window and FFT size at 16 kHz


@register
class AudioLdmBackend(PretrainedBackend):
    """AudioLDM VAE + UNet SDEdit + HiFi-GAN vocoder (see the module docstring).

    Options: ``strength`` (fraction of the noise schedule, default 0.5), ``steps`` (DDIM steps
    actually run, default 10), ``seed`` (default 0), ``condition`` (``empty_text`` or
    ``zeros``), ``normalize`` (AudioLDM's peak normalisation, default true) and the shared
    options of :mod:`reconfake.paradigms.pretrained` (here ``chunk_seconds`` 10.24,
    ``overlap_seconds`` 0.64, ``batch_size`` 4).
    """

    name = "audioldm"
    paradigm = "diffusion"
    default_model = MODEL_ID
    default_revision = MODEL_REVISION
    licence = "CC-BY-NC-SA-4.0 (cvssp/audioldm-s-full-v2 model card)"
    defaults: ClassVar[dict[str, Any]] = {
        **COMMON_DEFAULTS, "chunk_seconds": 10.24, "overlap_seconds": 0.64, "batch_size": 4,
        "strength": 0.5, "steps": 10, "seed": 0, "condition": "empty_text", "normalize": True,
    }

    def allow_patterns(self) -> list[str]:
        subfolders = ["vae", "unet", "vocoder"]
        patterns = ["model_index.json", "scheduler/*.json"]
        if self.options["condition"] == "empty_text":
            subfolders.append("text_encoder")
            patterns.append("tokenizer/*")
        return patterns + [f"{s}/*{ext}" for s in subfolders for ext in (".json", ".safetensors")]

    def load(self, path: Path) -> None:
        import diffusers
        from transformers import SpeechT5HifiGan

        o = self.options
        self.strength, self.steps, self.seed = float(o["strength"]), int(o["steps"]), int(o["seed"])
        if not 0.0 <= self.strength <= 1.0 or self.steps < 1:
            raise BackendError(f"backend audioldm: need 0 <= strength <= 1 and steps >= 1, got "
                               f"{self.strength} and {self.steps}")
        if o["condition"] not in CONDITIONS:
            raise BackendError(f"backend audioldm: condition {o['condition']!r}; use one of "
                               f"{', '.join(CONDITIONS)}")
        kwargs = {"low_cpu_mem_usage": False}
        self.vae = load_weights(diffusers.AutoencoderKL.from_pretrained, self.source, self.name,
                                subfolder="vae", **kwargs)
        self.unet = load_weights(diffusers.UNet2DConditionModel.from_pretrained, self.source,
                                 self.name, subfolder="unet", **kwargs)
        self.vocoder = load_weights(SpeechT5HifiGan.from_pretrained, self.source, self.name,
                                    subfolder="vocoder")
        for model in (self.vae, self.unet, self.vocoder):
            self.place(model)
        try:
            config = diffusers.DDIMScheduler.load_config(str(path), subfolder="scheduler")
        except OSError as exc:
            raise BackendError(f"backend audioldm: {path}/scheduler has no scheduler config") from exc
        self.scheduler = diffusers.DDIMScheduler.from_config(config)
        self.timesteps = sdedit_timesteps(self.scheduler, self.steps, self.strength)

        vocoder = self.vocoder.config
        self.sample_rate = int(vocoder.sampling_rate)
        self.spec = MelSpec(sample_rate=self.sample_rate, n_fft=WINDOW, win_length=WINDOW,
                            hop_length=int(np.prod(vocoder.upsample_rates)),
                            n_mels=int(vocoder.model_in_dim), fmin=0.0, fmax=self.sample_rate / 2,
                            floor=1e-5)
        vae_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.frame_multiple = vae_factor * 2 ** (len(self.unet.config.block_out_channels) - 1)
        if self.spec.n_mels % self.frame_multiple:
            raise BackendError(f"backend audioldm: {self.spec.n_mels} mel bands are not a multiple "
                               f"of the VAE x UNet down-sampling {self.frame_multiple}")
        self.scaling = float(self.vae.config.scaling_factor)
        self.condition = self._condition(path)

    def _condition(self, path: Path) -> torch.Tensor | None:
        """The class-embedding input: CLAP("") (L2-normalised) or zeros; None if unused."""
        config = self.unet.config
        if config.class_embed_type is None:
            return None
        dim = int(config.projection_class_embeddings_input_dim)
        if self.options["condition"] == "zeros":
            return torch.zeros(1, dim, device=self.torch_device, dtype=self.dtype)
        from transformers import AutoTokenizer, ClapTextModelWithProjection

        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path), subfolder="tokenizer")
        except (OSError, ValueError) as exc:
            raise BackendError(f"backend audioldm: no tokenizer in {path}/tokenizer; fetch it or "
                               "use condition: zeros") from exc
        text = load_weights(ClapTextModelWithProjection.from_pretrained, self.source, self.name,
                            subfolder="text_encoder").eval()
        with torch.inference_mode():
            tokens = tokenizer([""], return_tensors="pt")
            embeds = text(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask).text_embeds
            embeds = torch.nn.functional.normalize(embeds, dim=-1)
        if embeds.shape[-1] != dim:
            raise BackendError(f"backend audioldm: text embedding has {embeds.shape[-1]} dims, the "
                               f"UNet expects {dim}")
        return embeds.to(device=self.torch_device, dtype=self.dtype)

    # -- reconstruction -------------------------------------------------------------------------

    def _gain(self, clip: np.ndarray) -> float:
        if not self.options["normalize"]:
            return 1.0
        peak = float(np.max(np.abs(clip - clip.mean()))) if len(clip) else 0.0
        return min(PEAK / (peak + 1e-8), MAX_GAIN)

    def _padded_frames(self, samples: int) -> int:
        frames = samples // self.spec.hop_length + 1
        return -(-frames // self.frame_multiple) * self.frame_multiple

    def _log_mel(self, clip: np.ndarray, gain: float) -> torch.Tensor:
        x = (clip - clip.mean()) * gain if self.options["normalize"] else clip
        x = pad_to_at_least(x, self.spec.min_samples).astype(np.float32)
        mel = self.spec.log_mel(torch.from_numpy(x)).T  # (frames, n_mels)
        frames = self._padded_frames(len(clip))
        silence = torch.full((frames - mel.shape[0], mel.shape[1]), math.log(self.spec.floor))
        return torch.cat([mel[:frames], silence])

    def _reconstruct_group(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        """SDEdit of clips whose padded frame counts are equal, as one batch."""
        gains = [self._gain(c) for c in clips]
        mels = torch.stack([self._log_mel(c, g) for c, g in zip(clips, gains, strict=True)])[:, None]
        latents = self.vae.encode(self.to_model(mels)).latent_dist.mode() * self.scaling
        if self.timesteps:
            noise = torch.stack([
                torch.randn(latents.shape[1:], generator=torch.Generator().manual_seed(
                    clip_seed(self.seed, c))) for c in clips]).to(latents)
            latents = self.scheduler.add_noise(latents, noise, torch.tensor([self.timesteps[0]]))
            cond = None if self.condition is None else self.condition.expand(len(clips), -1)
            for t in self.timesteps:
                eps = self.unet(latents, t, encoder_hidden_states=None, class_labels=cond).sample
                latents = self.scheduler.step(eps, t, latents, eta=0.0).prev_sample
        mel = self.vae.decode(latents / self.scaling).sample[:, 0]
        audio = self.vocoder(mel).float().cpu().numpy()
        return [a[: len(c)] / g for a, c, g in zip(audio, clips, gains, strict=True)]

    def forward(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        groups: dict[int, list[int]] = defaultdict(list)
        for i, clip in enumerate(clips):
            groups[self._padded_frames(len(clip))].append(i)
        out: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(clips)
        for members in groups.values():
            for i, audio in zip(members, self._reconstruct_group([clips[i] for i in members]),
                                strict=True):
                out[i] = audio
        return out

    @torch.inference_mode()
    def bare_forward(self, clip: np.ndarray) -> np.ndarray:
        return self._reconstruct_group([np.asarray(clip, dtype=np.float32)])[0]

    def model_settings(self) -> dict[str, Any]:
        return {"strength": self.strength, "steps": self.steps, "timesteps": self.timesteps,
                "condition": self.options["condition"], "guidance_scale": 1.0,
                "scaling_factor": self.scaling, "mel_spec": asdict(self.spec),
                "normalize_peak": PEAK if self.options["normalize"] else None,
                "scheduler": dict(self.scheduler.config)}
