"""Offline stand-in speech: an eSpeak NG formant synthesiser driven through ctypes.

The demo corpus needs bona fide speech that can be produced anywhere without downloads. The
``espeakng-loader`` wheel ships ``libespeak-ng`` and its ``espeak-ng-data`` directory; this
module binds the few C functions needed (``espeak_Initialize`` in synchronous mode, a synthesis
callback collecting int16 samples, voice selection, rate/pitch/range/volume parameters,
``espeak_Synth``) and returns float32 mono audio resampled with :func:`reconfake.audio.resample`.

Determinism: eSpeak NG keeps synthesis state in C statics that no API call resets (the pitch
"flutter" table index, the automatic gain control, the voicing cycle counter), so the same text
spoken twice in one process normally differs. Each :func:`synthesize` call therefore loads the
library, initialises it, speaks, terminates it and unloads it again (a few milliseconds per
call), and checks with ``RTLD_NOLOAD`` that it really was unloaded. If something else in the
process holds the same library open, a private copy is loaded instead so its state stays ours.
All calls are serialised by one lock because the library is not re-entrant.
"""

from __future__ import annotations

import _ctypes
import atexit
import ctypes
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np

from reconfake.audio import pad_to_multiple, resample

# espeak_AUDIO_OUTPUT: deliver samples to the callback, and return from espeak_Synth when done.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
# espeak_Initialize option: report errors instead of calling exit() inside the library.
_INITIALIZE_DONT_EXIT = 0x8000
# espeak_POSITION_TYPE and espeak_Synth flags.
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
# espeak_PARAMETER
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
# espeak_ERROR
_EE_OK = 0

_INSTALL_FIX = (
    "install the espeakng-loader wheel into this environment "
    "(pip install 'espeakng-loader>=0.2', or pip install -e . from the reconfake checkout)"
)

#: English voices that the shipped data provides (each is synthesised by the tests). The part
#: after ``+`` names a variant file in ``espeak-ng-data/voices/!v`` (m1-m8 male, f1-f5 female).
ENGLISH_VOICES: tuple[str, ...] = (
    "en",
    "en-us",
    "en-gb-x-rp",
    "en-gb-scotland",
    "en-029",
    "en-us-nyc",
    "en+m1",
    "en+m3",
    "en+m7",
    "en+f2",
    "en+f4",
    "en-us+m2",
    "en-us+f1",
    "en-us+f3",
    "en-gb-x-rp+m4",
    "en-gb-scotland+f5",
)

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                   ctypes.c_void_p)

_lock = threading.Lock()
_chunks: list[bytes] = []
_private_copy: str | None = None  # set once the shared library turned out to be held elsewhere


def _collect(wav: ctypes._Pointer, num_samples: int, events: int | None) -> int:
    if wav and num_samples > 0:
        _chunks.append(ctypes.string_at(wav, num_samples * 2))
    return 0  # 0 = continue synthesis


# Module-level so the C side's function pointer never outlives the Python object.
_CALLBACK = _SYNTH_CALLBACK(_collect)


def _paths() -> tuple[str, str]:
    try:
        import espeakng_loader
    except ImportError as exc:
        raise RuntimeError(f"eSpeak NG is not available: {exc}; {_INSTALL_FIX}") from exc
    try:
        return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
    except Exception as exc:  # the loader raises RuntimeError when its data directory is gone
        raise RuntimeError(f"eSpeak NG data is missing ({exc}); reinstall it: {_INSTALL_FIX}") \
            from exc


def data_path() -> Path:
    """The ``espeak-ng-data`` directory shipped by ``espeakng-loader``."""
    return Path(_paths()[1])


def _is_loaded(path: str) -> bool:
    """Whether ``path`` is already mapped into this process (without loading it)."""
    try:
        probe = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    except OSError:
        return False
    _ctypes.dlclose(probe._handle)  # drop the reference the probe itself took
    return True


def _make_private_copy(path: str) -> str:
    folder = tempfile.mkdtemp(prefix="reconfake-espeak-")
    atexit.register(shutil.rmtree, folder, True)
    target = os.path.join(folder, "libespeak-ng-private.so")
    shutil.copy2(path, target)
    return target


def _library_file(path: str) -> str:
    """The file to load: the wheel's library, or a private copy if another user holds it."""
    global _private_copy
    if _private_copy is None and _is_loaded(path):
        _private_copy = _make_private_copy(path)
    return _private_copy or path


def _open(lib_path: str, data_dir: str) -> tuple[ctypes.CDLL, int]:
    """Load the library fresh, bind its functions and initialise it; return it and its rate."""
    try:
        lib = ctypes.CDLL(_library_file(lib_path), mode=os.RTLD_LOCAL)
    except OSError as exc:
        raise RuntimeError(f"cannot load the eSpeak NG library {lib_path}: {exc}; {_INSTALL_FIX}") \
            from exc
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.POINTER(ctypes.c_uint),
                                 ctypes.c_void_p]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.argtypes = []
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_Terminate.argtypes = []
    lib.espeak_Terminate.restype = ctypes.c_int
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, os.fsencode(data_dir),
                                 _INITIALIZE_DONT_EXIT)
    if rate <= 0:
        _close(lib, lib_path)
        raise RuntimeError(
            f"eSpeak NG failed to initialise (code {rate}) with data at {data_dir}; {_INSTALL_FIX}"
        )
    lib.espeak_SetSynthCallback(_CALLBACK)
    if hasattr(lib, "espeak_ng_SetRandSeed"):  # fresh state already; seed explicitly anyway
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        lib.espeak_ng_SetRandSeed(0)
    return lib, int(rate)


def _close(lib: ctypes.CDLL, lib_path: str) -> None:
    """Terminate and unload, so the next call starts from the library's initial state."""
    global _private_copy
    try:
        lib.espeak_Terminate()
    finally:
        _ctypes.dlclose(lib._handle)
    if _private_copy is None and _is_loaded(lib_path):
        # Another part of the process opened the same file meanwhile: go private from now on.
        _private_copy = _make_private_copy(lib_path)


def native_sample_rate() -> int:
    """The rate eSpeak NG synthesises at (22050 Hz for the shipped build)."""
    lib_path, data_dir = _paths()
    with _lock:
        lib, rate = _open(lib_path, data_dir)
        _close(lib, lib_path)
    return rate


def list_voices() -> list[str]:
    """Every language voice in the shipped data, by the lower-case names ``synthesize`` takes."""
    lang_dir = data_path() / "lang"
    return sorted({p.name.lower() for p in lang_dir.rglob("*") if p.is_file()})


def list_variants() -> list[str]:
    """Voice variants in the shipped data; append one to a voice as ``"en+m3"``."""
    variant_dir = data_path() / "voices" / "!v"
    return sorted(p.name for p in variant_dir.iterdir() if p.is_file())


def _trim_silence(x: np.ndarray, sample_rate: int, keep_s: float = 0.05,
                  threshold_db: float = -50.0) -> np.ndarray:
    """Cut leading/trailing silence, keeping ``keep_s`` seconds before and after the speech."""
    hop = max(1, sample_rate // 100)
    padded = pad_to_multiple(x.astype(np.float64), hop)
    n_frames = len(padded) // hop
    rms = np.sqrt(np.mean(padded.reshape(n_frames, hop) ** 2, axis=1))
    if rms.max() <= 0.0:
        return x
    active = np.flatnonzero(rms > rms.max() * 10.0 ** (threshold_db / 20.0))
    keep = int(round(keep_s * sample_rate))
    start = max(0, int(active[0]) * hop - keep)
    stop = min(len(x), (int(active[-1]) + 1) * hop + keep)
    return x[start:stop]


def _check_range(name: str, value: int, low: int, high: int) -> int:
    if not low <= int(value) <= high:
        raise ValueError(f"{name}={value} is outside eSpeak NG's range [{low}, {high}]")
    return int(value)


def synthesize(
    text: str,
    voice: str = "en",
    rate_wpm: int = 160,
    pitch: int = 50,
    pitch_range: int = 50,
    sample_rate: int = 16000,
    *,
    volume: int = 100,
) -> np.ndarray:
    """Speak ``text`` with eSpeak NG and return float32 mono audio at ``sample_rate``.

    Args:
        text: UTF-8 plain text (not SSML).
        voice: a language voice, optionally with a variant, e.g. ``"en-us"`` or ``"en+f2"``
            (see :data:`ENGLISH_VOICES`, :func:`list_voices`, :func:`list_variants`).
        rate_wpm: speaking rate in words per minute, 80-450.
        pitch: base pitch, 0-100 (50 = the voice's normal pitch).
        pitch_range: intonation range, 0-100 (0 = monotone).
        sample_rate: output rate; resampled from eSpeak's native 22050 Hz.
        volume: amplitude, 0-200 (100 = normal).

    Returns:
        ``(num_samples,)`` float32 in [-1, 1], silence trimmed to about 50 ms at each end.
        The same arguments give byte-identical samples, whatever was synthesised before.

    Raises:
        ValueError: empty text, an unknown voice, or a parameter out of range.
        RuntimeError: the eSpeak NG library or its data cannot be loaded.
    """
    if not text or not text.strip():
        raise ValueError("synthesize() needs non-empty text")
    rate_wpm = _check_range("rate_wpm", rate_wpm, 80, 450)
    pitch = _check_range("pitch", pitch, 0, 100)
    pitch_range = _check_range("pitch_range", pitch_range, 0, 100)
    volume = _check_range("volume", volume, 0, 200)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    encoded = text.encode("utf-8")
    lib_path, data_dir = _paths()
    with _lock:
        lib, native_rate = _open(lib_path, data_dir)
        try:
            status = lib.espeak_SetVoiceByName(voice.encode("utf-8"))
            if status != _EE_OK:
                raise ValueError(
                    f"eSpeak NG voice {voice!r} not found (status {status}); use one of "
                    "ENGLISH_VOICES or list_voices(), optionally with '+variant' from "
                    "list_variants()"
                )
            # After the voice: selecting a voice resets these parameters.
            for param, value in ((_RATE, rate_wpm), (_VOLUME, volume), (_PITCH, pitch),
                                 (_RANGE, pitch_range)):
                status = lib.espeak_SetParameter(param, value, 0)
                if status != _EE_OK:
                    raise RuntimeError(f"espeak_SetParameter({param}, {value}) failed: {status}")
            _chunks.clear()
            buf = ctypes.create_string_buffer(encoded)  # NUL-terminated copy
            status = lib.espeak_Synth(buf, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                      None, None)
            sync_status = lib.espeak_Synchronize()
            raw = b"".join(_chunks)
        finally:
            _chunks.clear()
            _close(lib, lib_path)
    if status != _EE_OK or sync_status != _EE_OK:
        raise RuntimeError(f"espeak_Synth failed (status {status}, synchronize {sync_status})")
    samples = np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0
    if samples.size == 0 or not np.any(samples):
        raise ValueError(f"eSpeak NG produced no audio for {text!r} with voice {voice!r}")
    samples = _trim_silence(samples, native_rate)
    out = resample(samples, native_rate, sample_rate)
    return np.clip(out, -1.0, 1.0).astype(np.float32)
