"""Codec paradigm, offline stand-in: Opus at a low bitrate through PyAV (libopus).

A classical codec rather than a neural one; it stands in for EnCodec/DAC in the embedded
default so the codec family is represented without downloading weights.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from reconfake.audio import pad_to_multiple, resample
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

    def _roundtrip(self, x: np.ndarray) -> np.ndarray:
        import av

        sr = self.sample_rate
        frame = int(sr * FRAME_SECONDS)
        buf = io.BytesIO()
        with av.open(buf, "w", format="ogg") as container:
            stream = container.add_stream("libopus", rate=sr, layout="mono")
            stream.bit_rate = int(self.options["bitrate"])
            padded = pad_to_multiple(x, frame).astype(np.float32)
            for start in range(0, len(padded), frame):
                chunk = av.AudioFrame.from_ndarray(padded[None, start:start + frame],
                                                   format="flt", layout="mono")
                chunk.sample_rate = sr
                chunk.pts = start
                for packet in stream.encode(chunk):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        buf.seek(0)
        decoded = []
        with av.open(buf) as container:
            stream = container.streams.audio[0]
            decoded_rate = stream.rate
            for frame_out in container.decode(stream):
                # planar or packed, mono or not: average whatever channels come back
                decoded.append(frame_out.to_ndarray().reshape(-1, frame_out.samples).mean(0))
        y = np.concatenate(decoded).astype(np.float32)
        return resample(y, decoded_rate, sr)

    def reconstruct_batch(self, batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [self._roundtrip(np.asarray(x, dtype=np.float32)) for x in batch]
