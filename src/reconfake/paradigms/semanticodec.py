"""Diffusion paradigm: SemantiCodec (Liu et al. 2024), a semantic codec with a diffusion decoder.

The ``semanticodec`` package is not on PyPI; it is installed from its repository::

    pip install git+https://github.com/haoheliu/SemantiCodec-inference.git

and it needs torchaudio, so it belongs in the GPU machine's own environment (torch and
torchaudio from the same CUDA index), never beside this project's CPU torch. Without it the
backend raises :class:`BackendError` saying so; nothing here installs it.

Weights: ``haoheliu/SemantiCodec`` on the Hub (MIT), fetched through the shared loader at the
pinned revision and only for the chosen setting: ``semanticodec_tokenrate_<R>/{encoder,decoder}.ckpt``
and the semantic codebook ``codebook_idx/combine_<N>_audioset_dominate/codebook_<V/2>_0.npy``.
They are linked into a private directory handed to the package as ``checkpoint_path``, so the
package finds them locally and never downloads on its own (unpinned). The package reads them
with ``torch.load``, which torch >= 2.6 runs with ``weights_only=True`` (tensors only, no
arbitrary pickles).

The package's API takes a file path per clip, so clips are written to a temporary 16 kHz float
WAV and processed one at a time (``batch_size`` only sets how many clips the workflow hands
over per call). It segments long audio itself (10.24 s windows with overlap), so
``chunk_seconds`` defaults to None. The DDIM sampling draws from torch's global generator,
which is seeded per clip from ``seed`` and the clip's samples. Token rate 100/s with a
16384-entry semantic vocabulary is the 1.35 kbps setting; 25/50 tokens/s are lower rates.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from reconfake.audio import write_audio
from reconfake.paradigms.hf_loading import fit_length
from reconfake.paradigms.pretrained import COMMON_DEFAULTS, PretrainedBackend
from reconfake.paradigms.registry import BackendError, clip_seed, register

MODEL_ID = "haoheliu/SemantiCodec"
MODEL_REVISION = None  # the repository has two commits; shards record the resolved one
REPOSITORY = "https://github.com/haoheliu/SemantiCodec-inference"
INSTALL = f"pip install git+{REPOSITORY}.git"
SAMPLE_RATE = 16000
#: token rate -> folder of its semantic codebooks
CODEBOOK_FOLDERS = {25: "combine_128_audioset_dominate", 50: "combine_256_audioset_dominate",
                    100: "combine_512_audioset_dominate"}
VOCAB_SIZES = (4096, 8192, 16384, 32768)


def require_semanticodec() -> Any:
    """The package's ``SemantiCodec`` class, or a :class:`BackendError` explaining the install."""
    try:
        from semanticodec import SemantiCodec
    except ImportError as exc:
        raise BackendError(
            "backend semanticodec needs the `semanticodec` package, which is not on PyPI; "
            f"install it from its git repository ({REPOSITORY}) with `{INSTALL}` in an "
            "environment whose torch and torchaudio match (e.g. the GPU machine's), or drop the "
            "semanticodec entry from reconstruction.backends") from exc
    return SemantiCodec


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
    :mod:`reconfake.paradigms.pretrained` (``bf16`` is not supported).
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
        self._codec_class = require_semanticodec()  # before fetching gigabytes of weights
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
        self.codec = self._codec_class(
            token_rate=self.token_rate, semantic_vocab_size=self.vocab_size,
            ddim_sample_step=int(self.options["ddim_sample_step"]),
            cfg_scale=float(self.options["cfg_scale"]), checkpoint_path=str(stage))
        # the package picks CUDA by itself; honour the device option instead
        self.codec.device = self.torch_device
        for part in ("encoder", "decoder"):
            module = getattr(self.codec, part, None)
            if isinstance(module, torch.nn.Module):
                module.to(self.torch_device).eval()
        self.sample_rate = SAMPLE_RATE
        self.seed = int(self.options["seed"])

    def _roundtrip(self, clip: np.ndarray, folder: Path) -> np.ndarray:
        wav = folder / "clip.wav"
        write_audio(wav, clip, self.sample_rate, subtype="FLOAT")
        torch.manual_seed(clip_seed(self.seed, clip))
        tokens = self.codec.encode(str(wav))
        audio = self.codec.decode(tokens)
        audio = audio.detach().float().cpu().numpy() if isinstance(audio, torch.Tensor) \
            else np.asarray(audio, dtype=np.float32)
        return fit_length(audio.reshape(-1), len(clip))

    def forward(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        with tempfile.TemporaryDirectory(prefix="semanticodec-clip-") as tmp:
            return [self._roundtrip(np.asarray(c, dtype=np.float32), Path(tmp)) for c in clips]

    @torch.inference_mode()
    def bare_forward(self, clip: np.ndarray) -> np.ndarray:
        return self.forward([clip])[0]

    def model_settings(self) -> dict[str, Any]:
        return {"token_rate": self.token_rate, "semantic_vocab_size": self.vocab_size,
                "files": checkpoint_files(self.token_rate, self.vocab_size),
                "package_repository": REPOSITORY}
