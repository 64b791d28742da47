"""Decoding through PyAV (FFmpeg) to float32 mono: codec round trips and raw G.722 files.

The bottom of the audio stack: it imports nothing from reconfake, so :mod:`reconfake.audio`
(the loader, for headerless G.722) and :mod:`reconfake.codecs` (round trips) both use it.
"""

from __future__ import annotations

import io
import os

import numpy as np

#: integer sample formats -> full scale
_INT_SCALE = {"s16": 32768.0, "s32": 2147483648.0, "u8": 128.0}


def decode_av(buf: io.BytesIO | str, fmt: str | None = None) -> tuple[np.ndarray, int]:
    """Every audio frame of ``buf`` (a file path or bytes; ``fmt`` names a headerless
    container) as float32 mono, channels averaged, and its sample rate."""
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


def decode_g722(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """A raw G.722 file (no header, as Asterisk ships its prompts): float32 mono, 16 kHz."""
    return decode_av(str(path), "g722")
