"""Codec round trips and raw-codec decoding through PyAV (FFmpeg): the one place audio meets a
lossy codec outside the reconstruction backends' models.

Used by the Opus stand-in backend, by the real-speech corpus (spoofs get the codec of the bona
fide recordings they stand beside, so the codec is no cue; one eval split adds a telephone
channel to both classes) and by :func:`reconfake.audio.load_audio` for raw G.722 files.
"""

from __future__ import annotations

import io
import os

import numpy as np

#: codec -> (container format, encoder, coded sample rate or None = any)
CODECS: dict[str, tuple[str, str, int | None]] = {
    "opus": ("ogg", "libopus", None),
    "vorbis": ("ogg", "vorbis", None),
    "g722": ("g722", "g722", 16000),
    "mulaw": ("wav", "pcm_mulaw", None),
}


_INT_SCALE = {"s16": 32768.0, "s32": 2147483648.0, "u8": 128.0}


def _frames(x: np.ndarray, rate: int, frame: int, fmt: str, channels: int):
    """``x`` cut into encoder frames of the encoder's sample format (PyAV would otherwise
    resample every frame, which made G.722 ~200x slower)."""
    import av

    from reconfake.audio import pad_to_multiple

    padded = pad_to_multiple(np.asarray(x, dtype=np.float32), frame)
    if fmt.startswith("s16"):
        padded = (np.clip(padded, -1.0, 1.0) * 32767).astype(np.int16)
    layout = "mono" if channels == 1 else "stereo"
    for start in range(0, len(padded), frame):
        data = np.repeat(padded[None, start:start + frame], channels, axis=0)
        if not fmt.endswith("p"):  # packed: one row of interleaved samples
            data = data.T.reshape(1, -1)
        chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=layout)
        chunk.sample_rate = rate
        chunk.pts = start
        yield chunk


def _decode(buf: io.BytesIO | str, fmt: str | None = None) -> tuple[np.ndarray, int]:
    import av

    chunks, rate = [], 0
    with av.open(buf, format=fmt) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            rate = frame.sample_rate
            # planar or packed, mono or not: average whatever channels come back
            data = frame.to_ndarray()
            scale = _INT_SCALE.get(frame.format.name.rstrip("p"), 1.0)
            data = data.astype(np.float32) / scale
            data = data.reshape(-1, frame.samples).mean(0) if frame.format.is_planar else \
                data.reshape(frame.samples, -1).mean(1)
            chunks.append(data)
    if not chunks:
        raise ValueError("no audio frames")
    y = np.concatenate(chunks)
    return y.astype(np.float32), rate


def codec_roundtrip(x: np.ndarray, rate: int, codec: str, bitrate: int | None = None,
                    frame_seconds: float = 0.02) -> np.ndarray:
    """Encode mono float ``x`` at ``rate`` with ``codec`` (see :data:`CODECS`) and decode it
    back, at ``rate``; the result is trimmed or padded to the input length."""
    import av

    from reconfake.audio import fit_length, resample

    if codec not in CODECS:
        raise ValueError(f"codec {codec!r}: use one of {sorted(CODECS)}")
    fmt, encoder, coded_rate = CODECS[codec]
    coded_rate = coded_rate or rate
    y = resample(x, rate, coded_rate)
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        # FFmpeg's own Vorbis encoder is experimental and codes stereo only
        channels = 2 if encoder == "vorbis" else 1
        options = {"strict": "experimental"} if encoder == "vorbis" else {}
        stream = container.add_stream(encoder, rate=coded_rate,
                                      layout="mono" if channels == 1 else "stereo",
                                      options=options)
        if bitrate:
            stream.bit_rate = int(bitrate)
        sample_format = av.codec.Codec(encoder, "w").audio_formats[0].name
        frame = int(coded_rate * frame_seconds) if codec == "opus" else 1024
        for chunk in _frames(y, coded_rate, frame, sample_format, channels):
            for packet in stream.encode(chunk):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    buf.seek(0)
    out, out_rate = _decode(buf, fmt)
    out = resample(out, out_rate, rate)
    return fit_length(out, len(x)).astype(np.float32)


def decode_g722(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """A raw G.722 file (no header, as Asterisk ships its prompts): float32 mono, 16 kHz."""
    return _decode(str(path), "g722")
