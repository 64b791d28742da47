"""Codec paradigm, offline stand-in: Opus at a low bitrate through PyAV (libopus).

A classical codec rather than a neural one; it stands in for EnCodec/DAC in the embedded
default so the codec family is represented without downloading weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from reconfake.codecs import codec_roundtrip
from reconfake.paradigms.registry import Backend, BackendError, register

OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
FRAME_SECONDS = 0.02


@register
class OpusBackend(Backend):
    """Encode to Opus at ``bitrate`` bit/s and decode back."""

    name = "opus"
    paradigm = "codec"
    stand_in_for = "neural codecs (EnCodec, DAC)"
    defaults: ClassVar[dict[str, Any]] = {"bitrate": 6000, "batch_size": 16}

    def __init__(self, device: str = "cpu", **options: Any):
        super().__init__(device, **options)
        try:
            import av  # noqa: F401
        except ImportError as exc:  # pragma: no cover - av is a core dependency
            raise BackendError("backend opus needs PyAV: pip install av") from exc
        if self.sample_rate not in OPUS_RATES:
            raise BackendError(f"opus cannot run at {self.sample_rate} Hz; use one of {OPUS_RATES}")
        bitrate = int(self.options["bitrate"])
        if not 500 <= bitrate <= 512000:
            raise BackendError(f"opus bitrate {bitrate} outside 500..512000 bit/s")

    def metadata(self) -> dict[str, Any]:
        import av

        meta = super().metadata()
        meta.update(model_id="libopus", revision=f"PyAV {av.__version__}")
        return meta

    def reconstruct_batch(self, batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        # float samples in (libopus takes them as they are), 20-ms frames: the shared round trip
        return [codec_roundtrip(np.asarray(x, dtype=np.float32), self.sample_rate, "opus",
                                int(self.options["bitrate"]), FRAME_SECONDS, sample_format="flt")
                for x in batch]
