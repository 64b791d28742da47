"""Codec round trips through PyAV (FFmpeg): the one place audio meets a
lossy codec outside the reconstruction backends' models.

Used by the Opus stand-in backend, by the real-speech corpus (spoofs get the codec of the bona
fide recordings they stand beside, so the codec is no cue; one eval split adds a telephone
channel to both classes). Decoding is :mod:`reconfake.av_decode` (shared with the loader).
"""

from __future__ import annotations

import io

import numpy as np

from reconfake.audio import fit_length, pad_to_multiple, resample
from reconfake.av_decode import decode_av

#: codec -> (container format, encoder, coded sample rate or None = any)
CODECS: dict[str, tuple[str, str, int | None]] = {
    "opus": ("ogg", "libopus", None),
    "vorbis": ("ogg", "vorbis", None),
    "g722": ("g722", "g722", 16000),
    "mulaw": ("wav", "pcm_mulaw", None),
}


def _frames(x: np.ndarray, rate: int, frame: int, fmt: str, channels: int):
    """``x`` cut into encoder frames of the encoder's sample format (PyAV would otherwise
    resample every frame, which made G.722 ~200x slower)."""
    import av

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


def codec_roundtrip(x: np.ndarray, rate: int, codec: str, bitrate: int | None = None,
                    frame_seconds: float = 0.02, sample_format: str | None = None) -> np.ndarray:
    """Encode mono float ``x`` at ``rate`` with ``codec`` (see :data:`CODECS`) and decode it
    back, at ``rate``; the result is trimmed or padded to the input length.

    ``sample_format`` is what the encoder is fed (default: its first, e.g. ``s16`` for libopus;
    the ``opus`` backend feeds ``flt``, which libopus takes as well)."""
    import av

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
        formats = [f.name for f in av.codec.Codec(encoder, "w").audio_formats]
        if sample_format is None:
            sample_format = formats[0]
        elif sample_format not in formats:
            raise ValueError(f"codec {codec!r}: encoder {encoder} takes {formats}, not "
                             f"{sample_format!r}")
        frame = int(coded_rate * frame_seconds) if codec == "opus" else 1024
        for chunk in _frames(y, coded_rate, frame, sample_format, channels):
            for packet in stream.encode(chunk):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    buf.seek(0)
    out, out_rate = decode_av(buf, fmt)
    out = resample(out, out_rate, rate)
    return fit_length(out, len(x)).astype(np.float32)
