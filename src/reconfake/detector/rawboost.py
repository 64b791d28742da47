"""RawBoost waveform augmentation (Tak et al., ICASSP 2022), as used by SSL-AASIST.

Three algorithms, with the official code's parameters and defaults:

1. ``lnl``: linear and non-linear convolutive noise. ``sum_{j=1..N_f} h_j * x^j`` where each
   ``h_j`` is a cascade of ``n_bands`` random FIR band-stop (notch) filters, the linear one at
   gain ``[min_g, max_g]`` dB and the non-linear ones ``[min_bias, max_bias]`` dB lower; the
   result is made zero-mean and rescaled if it clips.
2. ``isd``: impulsive signal-dependent noise. Up to ``p`` % of the samples (a uniform draw)
   get ``x + g_sd * x * r`` with ``r`` a product of two uniforms in ``[-1, 1]``.
3. ``ssi``: stationary signal-independent noise. White noise coloured by a random notch
   cascade, added at an SNR drawn from ``[snr_min, snr_max]`` dB.

``algo`` selects them as the official ``--algo`` does: 0 none, 1 lnl, 2 isd, 3 ssi,
4 lnl+isd+ssi, 5 lnl+isd, 6 lnl+ssi, 7 isd+ssi (in series), 8 lnl|isd (in parallel: the sum,
rescaled if it clips). SSL-AASIST trains ASVspoof 2019 LA with 5 and DF with 3. The names
work too (``"lnl+isd"``). Randomness comes from a ``numpy.random.Generator`` the caller
seeds, so training stays reproducible. FIR filtering uses FFT convolution (the official code
uses ``lfilter``; the results agree to float rounding) with the official output alignment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from scipy import signal

from reconfake.options import reject_unknown

ALGORITHMS: dict[str, int] = {"none": 0, "lnl": 1, "isd": 2, "ssi": 3, "lnl+isd+ssi": 4,
                              "lnl+isd": 5, "lnl+ssi": 6, "isd+ssi": 7, "lnl|isd": 8}
_SERIES: dict[int, tuple[str, ...]] = {0: (), 1: ("lnl",), 2: ("isd",), 3: ("ssi",),
                                       4: ("lnl", "isd", "ssi"), 5: ("lnl", "isd"),
                                       6: ("lnl", "ssi"), 7: ("isd", "ssi")}


@dataclass(frozen=True)
class RawBoostParams:
    """The official defaults (``main.py`` of TakHemlata/RawBoost-antispoofing)."""

    n_bands: int = 5
    min_f: float = 20.0
    max_f: float = 8000.0
    min_bw: float = 100.0
    max_bw: float = 1000.0
    min_coeff: int = 10
    max_coeff: int = 100
    min_g: float = 0.0
    max_g: float = 0.0
    min_bias_lin_nonlin: float = 5.0
    max_bias_lin_nonlin: float = 20.0
    n_f: int = 5
    p: float = 10.0
    g_sd: float = 2.0
    snr_min: float = 10.0
    snr_max: float = 40.0


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    # low + (high - low) * u, like numpy's legacy uniform: the official code draws non-linear
    # gains with low > high.
    return float(low + (high - low) * rng.random())


def normalize_peak(x: np.ndarray, always: bool) -> np.ndarray:
    """Divide by the peak when ``always`` or when the peak exceeds 1."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return x / peak if peak > 0 and (always or peak > 1) else x


def notch_coefficients(rng: np.random.Generator, params: RawBoostParams,
                       sample_rate: int, min_g: float, max_g: float) -> np.ndarray:
    """A cascade of ``n_bands`` random FIR band-stop filters, peak gain ``[min_g, max_g]`` dB."""
    b = np.ones(1)
    for _ in range(params.n_bands):
        fc = _uniform(rng, params.min_f, params.max_f)
        bw = _uniform(rng, params.min_bw, params.max_bw)
        taps = int(_uniform(rng, params.min_coeff, params.max_coeff))
        taps += 1 - taps % 2  # odd length (type I, so band-stop is possible)
        f1 = max(fc - bw / 2, 1e-3)
        f2 = min(fc + bw / 2, sample_rate / 2 - 1e-3)
        b = np.convolve(signal.firwin(taps, [f1, f2], window="hamming", fs=sample_rate), b)
    gain_db = _uniform(rng, min_g, max_g)
    _, response = signal.freqz(b, 1, fs=sample_rate)
    return 10 ** (gain_db / 20) * b / np.max(np.abs(response))


def filter_fir(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    """FIR-filter ``x`` keeping its length, aligned as the official ``filterFIR`` (which
    advances the output by one sample more than the filter delay)."""
    n = len(b) + 1
    padded = np.pad(x, (0, n))
    y = signal.oaconvolve(padded, b)[: len(padded)]
    return y[n // 2 : int(len(y) - n / 2)]


def lnl_convolutive_noise(x: np.ndarray, rng: np.random.Generator, params: RawBoostParams,
                          sample_rate: int) -> np.ndarray:
    """Algorithm 1: linear and non-linear convolutive noise."""
    y = np.zeros_like(x)
    min_g, max_g = params.min_g, params.max_g
    for order in range(1, params.n_f + 1):
        if order == 2:
            min_g -= params.min_bias_lin_nonlin
            max_g -= params.max_bias_lin_nonlin
        b = notch_coefficients(rng, params, sample_rate, min_g, max_g)
        y = y + filter_fir(np.power(x, order), b)
    return normalize_peak(y - np.mean(y), always=False)


def isd_additive_noise(x: np.ndarray, rng: np.random.Generator,
                       params: RawBoostParams) -> np.ndarray:
    """Algorithm 2: impulsive signal-dependent noise on up to ``p`` % of the samples."""
    beta = _uniform(rng, 0.0, params.p)
    y = x.copy()
    picked = rng.permutation(len(x))[: int(len(x) * beta / 100)]
    factor = (2 * rng.random(len(picked)) - 1) * (2 * rng.random(len(picked)) - 1)
    y[picked] = x[picked] + params.g_sd * x[picked] * factor
    return normalize_peak(y, always=False)


def ssi_additive_noise(x: np.ndarray, rng: np.random.Generator, params: RawBoostParams,
                       sample_rate: int) -> np.ndarray:
    """Algorithm 3: coloured stationary noise at an SNR in ``[snr_min, snr_max]`` dB."""
    noise = rng.normal(0.0, 1.0, len(x))
    b = notch_coefficients(rng, params, sample_rate, params.min_g, params.max_g)
    noise = normalize_peak(filter_fir(noise, b), always=True)
    snr = _uniform(rng, params.snr_min, params.snr_max)
    noise = noise / np.linalg.norm(noise) * np.linalg.norm(x) / 10.0 ** (0.05 * snr)
    return x + noise


class RawBoost:
    """Callable augmenter: ``RawBoost(5)(wave, rng)``; ``params`` override the defaults."""

    def __init__(self, algo: int | str = 5, sample_rate: int = 16000,
                 params: dict[str, Any] | None = None):
        if isinstance(algo, str):
            if algo not in ALGORITHMS:
                raise ValueError(f"unknown RawBoost algorithm {algo!r}; choose a number 0-8 or "
                                 f"one of {', '.join(ALGORITHMS)}")
            algo = ALGORITHMS[algo]
        if algo not in range(9):
            raise ValueError(f"RawBoost algo must be 0-8, got {algo}")
        reject_unknown(params or {}, (f.name for f in fields(RawBoostParams)), "RawBoost params")
        self.algo = algo
        self.sample_rate = sample_rate
        self.params = RawBoostParams(**(params or {}))

    def _apply(self, name: str, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if name == "lnl":
            return lnl_convolutive_noise(x, rng, self.params, self.sample_rate)
        if name == "isd":
            return isd_additive_noise(x, rng, self.params)
        return ssi_additive_noise(x, rng, self.params, self.sample_rate)

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augmented copy of a mono float waveform (same length, float32)."""
        x = np.asarray(wave, dtype=np.float64)
        if self.algo == 8:
            x = normalize_peak(self._apply("lnl", x, rng) + self._apply("isd", x, rng),
                               always=False)
        else:
            for name in _SERIES[self.algo]:
                x = self._apply(name, x, rng)
        return x.astype(np.float32)

    def describe(self) -> dict[str, Any]:
        """Settings for logs and checkpoints."""
        return {"algo": self.algo, **asdict(self.params)}
