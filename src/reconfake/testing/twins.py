"""Random-weight twins of the pretrained backends' architectures, saved in the real formats.

Each builder instantiates the same classes as the real checkpoint (small configs by default,
the real checkpoint's config with ``real_size=True``), seeds the weights, and writes them with
``save_pretrained`` (safetensors + config.json, in the Hub repository's layout) to a directory
that the backends then load through the same code path as a Hugging Face id. Real-size twins
have the real compute cost and are what ``scripts/bench_backends.py --real-size`` and
``scripts/bench_gpu.py`` time. :func:`semanticodec_weights` does the same for SemantiCodec in
its package's own format (real size only; needs that package).

Used by the tests (``tests/test_backend_*.py``, ``tests/test_gpu.py``) and the benchmarks; no
pytest here (the fixtures are in :mod:`reconfake.testing.fixtures`).
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

# microsoft/speecht5_hifigan: SpeechT5HifiGanConfig() defaults are that checkpoint's config
HIFIGAN_TINY = {"upsample_initial_channel": 32, "upsample_rates": [4, 4, 4, 4],
                "upsample_kernel_sizes": [8, 8, 8, 8], "resblock_kernel_sizes": [3],
                "resblock_dilation_sizes": [[1, 3]]}
# descript/dac_16khz (descript-audio-codec conf/final/16khz.yml)
DAC_16KHZ = {"encoder_hidden_size": 64, "downsampling_ratios": [2, 4, 5, 8],
             "decoder_hidden_size": 1536, "n_codebooks": 12, "codebook_size": 1024,
             "codebook_dim": 8, "sampling_rate": 16000}
DAC_TINY = {**DAC_16KHZ, "encoder_hidden_size": 4, "decoder_hidden_size": 32, "n_codebooks": 4,
            "codebook_size": 64, "codebook_dim": 4}
# cvssp/audioldm-s-full-v2 (diffusers' convert_original_audioldm_to_diffusers DEFAULT_CONFIG)
AUDIOLDM_S = {
    "vae": {"block_out_channels": (128, 256, 512), "layers_per_block": 2, "norm_num_groups": 32},
    "unet": {"block_out_channels": (128, 256, 384, 640), "layers_per_block": 2,
             "down_block_types": ("DownBlock2D",) + ("CrossAttnDownBlock2D",) * 3,
             "up_block_types": ("CrossAttnUpBlock2D",) * 3 + ("UpBlock2D",),
             "cross_attention_dim": (128, 256, 384, 640), "norm_num_groups": 32,
             "projection_class_embeddings_input_dim": 512, "attention_head_dim": 8},
    "vocoder": {"upsample_initial_channel": 1024, "upsample_rates": [5, 4, 2, 2, 2],
                "upsample_kernel_sizes": [16, 16, 8, 4, 4], "resblock_kernel_sizes": [3, 7, 11],
                "resblock_dilation_sizes": [[1, 3, 5]] * 3},
}
AUDIOLDM_TINY = {
    "vae": {"block_out_channels": (8, 16, 16), "layers_per_block": 1, "norm_num_groups": 4},
    "unet": {"block_out_channels": (16, 32), "layers_per_block": 1,
             "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
             "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
             "cross_attention_dim": (16, 32), "norm_num_groups": 8,
             "projection_class_embeddings_input_dim": 16, "attention_head_dim": 4},
    "vocoder": {"upsample_initial_channel": 32, "upsample_rates": [5, 4, 2, 2, 2],
                "upsample_kernel_sizes": [10, 8, 4, 4, 4], "resblock_kernel_sizes": [3],
                "resblock_dilation_sizes": [[1, 3]]},
}


def _audible(vocoder: torch.nn.Module, level: float = 0.1) -> None:
    """Scale a random HiFi-GAN's last convolution so its output has about ``level`` RMS (random
    weights otherwise whisper below 16-bit FLAC's resolution)."""
    mel = torch.randn(1, 50, vocoder.config.model_in_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        rms = float(vocoder(mel).pow(2).mean().sqrt())
        vocoder.conv_post.weight.mul_(level / max(rms, 1e-12))
        vocoder.conv_post.bias.zero_()


def _save(model: torch.nn.Module, out: Path) -> Path:
    model.save_pretrained(out)
    return out


def encodec_twin(out: Path, real_size: bool = False, seed: int = 0) -> Path:
    """``EncodecModel`` at 24 kHz with hop 320 (smaller widths unless ``real_size``)."""
    from transformers import EncodecConfig, EncodecModel

    kwargs = {} if real_size else {"num_filters": 4, "hidden_size": 16,
                                   "num_lstm_layers": 1}
    torch.manual_seed(seed)
    return _save(EncodecModel(EncodecConfig(upsampling_ratios=[8, 5, 4, 2], **kwargs)), out)


def dac_twin(out: Path, real_size: bool = False, seed: int = 0) -> Path:
    """``DacModel`` at 16 kHz with hop 320."""
    from transformers import DacConfig, DacModel

    torch.manual_seed(seed)
    return _save(DacModel(DacConfig(**(DAC_16KHZ if real_size else DAC_TINY))), out)


def hifigan_twin(out: Path, real_size: bool = False, seed: int = 0) -> Path:
    """``SpeechT5HifiGan`` (80 mels, hop 256, 16 kHz) with non-trivial mean/scale buffers."""
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    torch.manual_seed(seed)
    model = SpeechT5HifiGan(SpeechT5HifiGanConfig(**({} if real_size else HIFIGAN_TINY)))
    with torch.no_grad():  # like the real checkpoint's statistics of log10 mels
        model.mean.copy_(torch.linspace(-6.0, -4.0, model.config.model_in_dim))
        model.scale.copy_(torch.linspace(1.0, 2.0, model.config.model_in_dim))
    _audible(model)
    return _save(model, out)


def _tiny_tokenizer(out: Path) -> None:
    from transformers import RobertaTokenizer

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "a": 4, "\u0120": 5}
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = RobertaTokenizer(str(out / "vocab.json"), str(out / "merges.txt"))
    tokenizer.save_pretrained(out)


def audioldm_twin(out: Path, real_size: bool = False, text_encoder: bool = True,
                  seed: int = 0) -> Path:
    """AudioLDM components in the diffusers repository layout (vae, unet, scheduler, vocoder and,
    unless ``text_encoder`` is false, a tiny CLAP text tower and RoBERTa tokenizer)."""
    import diffusers
    from transformers import (
        ClapTextConfig,
        ClapTextModelWithProjection,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
    )

    sizes = AUDIOLDM_S if real_size else AUDIOLDM_TINY
    levels = len(sizes["vae"]["block_out_channels"])
    torch.manual_seed(seed)
    vae = diffusers.AutoencoderKL(
        in_channels=1, out_channels=1, latent_channels=8, down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels, sample_size=512, scaling_factor=0.9227914,
        **sizes["vae"])
    unet = diffusers.UNet2DConditionModel(
        sample_size=128, in_channels=8, out_channels=8, class_embed_type="simple_projection",
        class_embeddings_concat=True, **sizes["unet"])
    vocoder = SpeechT5HifiGan(SpeechT5HifiGanConfig(model_in_dim=64, sampling_rate=16000,
                                                    normalize_before=False, **sizes["vocoder"]))
    _audible(vocoder)
    scheduler = diffusers.DDIMScheduler(
        num_train_timesteps=1000, beta_start=0.0015, beta_end=0.0195, beta_schedule="scaled_linear",
        steps_offset=1, clip_sample=False, set_alpha_to_one=False, prediction_type="epsilon")
    out.mkdir(parents=True, exist_ok=True)
    vae.save_pretrained(out / "vae")
    unet.save_pretrained(out / "unet")
    vocoder.save_pretrained(out / "vocoder")
    scheduler.save_pretrained(out / "scheduler")
    if text_encoder:
        dim = sizes["unet"]["projection_class_embeddings_input_dim"]
        config = ClapTextConfig(vocab_size=6, hidden_size=16, num_hidden_layers=1,
                                num_attention_heads=2, intermediate_size=32, projection_dim=dim,
                                max_position_embeddings=40)
        ClapTextModelWithProjection(config).save_pretrained(out / "text_encoder")
        _tiny_tokenizer(out / "tokenizer")
    (out / "model_index.json").write_text(json.dumps({"_class_name": "AudioLDMPipeline"}),
                                          encoding="utf-8")
    return out


@contextlib.contextmanager
def twin_kernels() -> Iterator[None]:
    """Run tiny twins on one thread without oneDNN (mkldnn): their odd little shapes run ~20x
    faster on ATen's own kernels, with the same results, and OpenMP barriers between two threads
    cost more than they save (10x more on a busy 2-core machine). Real-size models keep both."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
            with torch.backends.mkldnn.flags(enabled=False):
                yield
    finally:
        torch.set_num_threads(threads)


def semanticodec_weights(root: Path, token_rate: int = 100, vocab: int = 16384, seed: int = 0) -> Path:
    """A repository-shaped folder of random weights in the semanticodec package's format, built
    by the package's own classes with its own configuration for the setting (the real
    architecture and compute; about 2.4 GB for token rate 100). Needs the package; a folder that
    already holds every file is returned as it is."""
    import numpy as np
    from semanticodec.config import get_config
    from semanticodec.modules.decoder.latent_diffusion.util import instantiate_from_config
    from semanticodec.modules.encoder.encoder import AudioMAEConditionQuantResEncoder

    from reconfake.paradigms.semanticodec import checkpoint_files

    files = {name: root / rel for name, rel in checkpoint_files(token_rate, vocab).items()}
    if all(p.is_file() for p in files.values()):
        return root
    config, _, feature_dim, lstm_layers, _ = get_config(token_rate, vocab, str(root))
    codebook = next(p for n, p in files.items() if n.endswith(".npy"))
    codebook.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    np.save(codebook, rng.standard_normal((vocab // 2, feature_dim)).astype(np.float32))
    torch.manual_seed(seed)
    encoder = AudioMAEConditionQuantResEncoder(feature_dimension=feature_dim, lstm_layer=lstm_layers,
                                               centroid_npy_path=str(codebook))
    files["encoder.ckpt"].parent.mkdir(parents=True, exist_ok=True)
    torch.save(encoder.state_dict(), files["encoder.ckpt"])
    del encoder
    torch.save(instantiate_from_config(config["model"]).state_dict(), files["decoder.ckpt"])
    return root


#: the twin builder of each Hugging Face backend, by backend name
BUILDERS = {"encodec": encodec_twin, "dac": dac_twin, "hifigan": hifigan_twin,
            "audioldm": audioldm_twin}


def twin_options(name: str, out: Path, real_size: bool = False) -> dict[str, Any]:
    """Build the twin of backend ``name`` in ``out`` and return the backend options that load it.

    A real-size AudioLDM twin has no text tower (the real CLAP is large and random text features
    mean nothing), so it is conditioned on zeros.
    """
    if name == "audioldm":
        model = audioldm_twin(out, real_size=real_size, text_encoder=not real_size)
        return {"model": str(model), **({"condition": "zeros"} if real_size else {})}
    return {"model": str(BUILDERS[name](out, real_size=real_size))}
