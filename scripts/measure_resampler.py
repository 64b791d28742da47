"""Compare the two candidate resamplers: scipy ``resample_poly`` (reconfake's until the switch)
and soxr ``HQ`` as librosa calls it (``librosa.resample(res_type="soxr_hq")``, librosa's default,
which is what the field's AASIST / SSL-AASIST pipelines use).

A measurement, not a test; the figures go to the README. Three parts:

* ``bands``: white noise and a log sweep at 22.05, 24, 44.1 and 48 kHz resampled to 16 kHz by
  both; the energy of their difference above 7.6 kHz and below it (dB relative to the output's
  energy), and each resampler's response: the -0.1 dB and -3 dB passband edges, the gain at
  7.6/7.8/7.9/7.99 kHz and the worst alias leakage of a tone above 8 kHz.
* ``scores``: the official AASIST weights (``--weights``) on clips made at 22.05 and 24 kHz
  (eSpeak NG speech, noise, harmonic series), resampled by each; the score difference from the
  librosa-style soxr_hq reference, and how many decisions flip at threshold 0.
* ``speed``: seconds per call of each on 4-s and 60-s clips, runs alternating (A, B, A, B...) so a
  shared machine's load hits both alike; medians and the spread (min-max).

Usage::

    nice -n 10 python scripts/measure_resampler.py --part all --threads 2 --out resampler.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import soxr
from scipy.signal import resample_poly, welch

OUT_SR = 16000
RATES = (22050, 24000, 44100, 48000)
TOP_BAND = 7600.0  # Hz: the band where the two resamplers were seen to differ


def scipy_poly(x: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """reconfake's former resampler: polyphase, Kaiser window (scipy's default), float64."""
    ratio = Fraction(sr_to, sr_from)
    return resample_poly(np.asarray(x, np.float64), ratio.numerator, ratio.denominator)\
        .astype(np.float32)


def librosa_soxr_hq(x: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """What ``librosa.resample(x, orig_sr=sr_from, target_sr=sr_to)`` computes (res_type
    soxr_hq, fix=True, scale=False): soxr HQ on the float32 samples, length ceil(n * ratio)."""
    y = soxr.resample(np.asarray(x, np.float32), sr_from, sr_to, quality="soxr_hq")
    n = int(np.ceil(len(x) * sr_to / sr_from))
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))


RESAMPLERS = {"scipy_poly": scipy_poly, "soxr_hq": librosa_soxr_hq}


def _band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    f, p = welch(x, OUT_SR, nperseg=2048)
    sel = (f >= lo) & (f < hi)
    return float(np.sum(p[sel]))


def _db(a: float, b: float) -> float:
    return float(10 * np.log10(max(a, 1e-30) / max(b, 1e-30)))


def _tone_gain(resampler, sr: int, freq: float) -> float:
    """Output RMS / input RMS (dB) of a 1-s tone, edges (filter transients) dropped."""
    t = np.arange(sr) / sr
    x = np.sin(2 * np.pi * freq * t).astype(np.float32)
    y = resampler(x, sr, OUT_SR)[OUT_SR // 10: -OUT_SR // 10].astype(np.float64)
    return float(20 * np.log10(np.sqrt(np.mean(y ** 2)) / np.sqrt(0.5) + 1e-30))


def _edge(grid: np.ndarray, gains: np.ndarray, db: float) -> float | None:
    """The first frequency of ``grid`` whose gain is below ``db``."""
    below = gains < db
    return float(grid[np.argmax(below)]) if np.any(below) else None


def part_bands() -> dict:
    rng = np.random.default_rng(0)
    out: dict = {}
    for sr in RATES:
        t = np.arange(5 * sr) / sr
        sweep = np.sin(2 * np.pi * 20 * (sr / 2 / 20) ** (t / t[-1]) * t[-1]
                       / np.log(sr / 2 / 20)).astype(np.float32) * 0.5
        signals = {"white_noise": (0.1 * rng.standard_normal(5 * sr)).astype(np.float32),
                   "log_sweep": sweep}
        row: dict = {}
        for name, x in signals.items():
            a, b = scipy_poly(x, sr, OUT_SR), librosa_soxr_hq(x, sr, OUT_SR)
            n = min(len(a), len(b))
            d = (a[:n] - b[:n]).astype(np.float64)
            ref = _band_energy(b[:n].astype(np.float64), 0, OUT_SR / 2)
            hi, lo = _band_energy(d, TOP_BAND, OUT_SR / 2), _band_energy(d, 0, TOP_BAND)
            row[name] = {"diff_above_7k6_db": _db(hi, ref), "diff_below_7k6_db": _db(lo, ref),
                         "share_of_diff_energy_above_7k6": hi / (hi + lo),
                         "max_abs_diff": float(np.max(np.abs(d)))}
        resp: dict = {}
        for rname, fn in RESAMPLERS.items():
            grid = np.arange(6000.0, 8000.0, 10.0)
            gains = np.array([_tone_gain(fn, sr, f) for f in grid])
            stop = np.arange(8010.0, min(sr / 2, 12000.0), 30.0)
            leak = np.array([_tone_gain(fn, sr, f) for f in stop])
            resp[rname] = {"edge_-0.1dB_hz": _edge(grid, gains, -0.1),
                           "edge_-3dB_hz": _edge(grid, gains, -3.0),
                           **{f"gain_{f:.0f}hz_db": _tone_gain(fn, sr, f)
                              for f in (7600.0, 7800.0, 7900.0, 7990.0)},
                           "worst_alias_above_8k_db": float(np.max(leak)),
                           "worst_alias_at_or_above_8k5_db": float(np.max(leak[stop >= 8500]))}
        out[str(sr)] = {"difference": row, "response": resp}
        print(sr, json.dumps(out[str(sr)], indent=1), flush=True)
    return out


def _clips(n_each: int) -> list[tuple[str, int, np.ndarray]]:
    """Speech (eSpeak NG, native 22.05 kHz), noise and harmonic clips at 22.05 and 24 kHz."""
    from reconfake.corpora.tts import ENGLISH_VOICES, synthesize

    rng = np.random.default_rng(1)
    texts = ["The quick brown fox jumps over the lazy dog.",
             "Please call Stella and ask her to bring these things with her from the store.",
             "Six spoons of fresh snow peas, five thick slabs of blue cheese.",
             "We also need a small plastic snake and a big toy frog for the kids."]
    clips = []
    for i in range(n_each):
        voice = ENGLISH_VOICES[i % len(ENGLISH_VOICES)]
        x = synthesize(texts[i % len(texts)], voice=voice, rate_wpm=140 + 10 * i,
                       pitch=40 + 5 * i, sample_rate=22050)
        clips.append((f"espeak_{i}", 22050, x))
    for sr in (22050, 24000):
        for i in range(n_each):
            t = np.arange(int(4.2 * sr)) / sr
            f0 = 100 + 25 * i
            phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.04 * np.sin(2 * np.pi * 3 * t))) / sr
            x = sum(np.sin(k * phase) / k for k in range(1, int(sr / 2 / (f0 * 1.05))))
            x = x * (0.6 + 0.4 * np.sin(2 * np.pi * 1.5 * t)) + 0.01 * rng.standard_normal(len(t))
            clips.append((f"harmonic_{sr}_{i}", sr, (0.4 * x / np.max(np.abs(x))).astype(np.float32)))
            noise = rng.standard_normal(len(t)) * (0.05 + 0.1 * rng.random())
            clips.append((f"noise_{sr}_{i}", sr, noise.astype(np.float32)))
    return clips


def part_scores(weights: Path, n_each: int) -> dict:
    import torch

    from reconfake.detector.data import fixed_crop
    from reconfake.detector.inference import load_checkpoint

    model, _ = load_checkpoint(weights, "aasist")
    clips = _clips(n_each)
    scores: dict[str, list[float]] = {name: [] for name in RESAMPLERS}
    for name, fn in RESAMPLERS.items():
        waves = np.stack([fixed_crop(fn(x, sr, OUT_SR), 64600) for _, sr, x in clips])
        with torch.inference_mode():
            for s in range(0, len(waves), 8):
                scores[name] += model(torch.from_numpy(waves[s:s + 8]))[1][:, 1].tolist()
    ref = np.array(scores["soxr_hq"])
    old = np.array(scores["scipy_poly"])
    diff = np.abs(old - ref)
    out = {"clips": len(clips), "rates": sorted({sr for _, sr, _ in clips}),
           "score_range": [float(ref.min()), float(ref.max())],
           "scipy_vs_soxr_hq_abs_diff": {"median": float(np.median(diff)), "max": float(diff.max()),
                                         "mean": float(diff.mean())},
           "decision_flips_at_0": int(np.sum((old > 0) != (ref > 0))),
           "by_kind_max_abs_diff": {k: float(max(d for (n, _, _), d in zip(clips, diff, strict=True)
                                                 if n.startswith(k)))
                                    for k in ("espeak", "harmonic", "noise")}}
    try:
        from reconfake.audio import resample
        new = np.stack([fixed_crop(resample(x, sr, OUT_SR), 64600) for _, sr, x in clips])
        ref_w = np.stack([fixed_crop(librosa_soxr_hq(x, sr, OUT_SR), 64600) for _, sr, x in clips])
        out["reconfake_resample_vs_librosa_soxr_hq_max_abs_sample_diff"] = \
            float(np.max(np.abs(new - ref_w)))
    except ImportError:
        pass
    print(json.dumps(out, indent=1), flush=True)
    return out


def part_speed(repeats: int) -> dict:
    rng = np.random.default_rng(2)
    out: dict = {}
    for seconds in (4, 60):
        for sr in RATES:
            x = (0.1 * rng.standard_normal(seconds * sr)).astype(np.float32)
            times: dict[str, list[float]] = {k: [] for k in RESAMPLERS}
            for _ in range(repeats):
                for name, fn in RESAMPLERS.items():  # alternating
                    t0 = time.perf_counter()
                    fn(x, sr, OUT_SR)
                    times[name].append(time.perf_counter() - t0)
            out[f"{seconds}s@{sr}"] = {k: {"median_ms": 1e3 * statistics.median(v),
                                           "min_ms": 1e3 * min(v), "max_ms": 1e3 * max(v)}
                                       for k, v in times.items()}
            m = out[f"{seconds}s@{sr}"]
            m["scipy_over_soxr"] = m["scipy_poly"]["median_ms"] / m["soxr_hq"]["median_ms"]
            print(f"{seconds}s@{sr}", json.dumps(m), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["bands", "scores", "speed", "all"], default="all")
    ap.add_argument("--weights", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared/reference/aasist/AASIST.pth")
    ap.add_argument("--clips-per-kind", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    result: dict = {"soxr": soxr.__version__}
    if args.part in ("bands", "all"):
        result["bands"] = part_bands()
    if args.part in ("scores", "all"):
        result["scores"] = part_scores(args.weights, args.clips_per_kind)
    if args.part in ("speed", "all"):
        result["speed"] = part_speed(args.repeats)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
