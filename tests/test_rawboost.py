"""RawBoost: each algorithm's defining property, measured on constructed signals."""

import numpy as np
import pytest
from scipy import signal

from reconfake.detector.rawboost import (
    ALGORITHMS,
    RawBoost,
    RawBoostParams,
    filter_fir,
    isd_additive_noise,
    lnl_convolutive_noise,
    notch_coefficients,
    ssi_additive_noise,
)

SR = 16000


def _tone(n=16000, amplitude=0.1, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    return amplitude * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(n)


def test_notch_filter_stops_its_band():
    # One band fixed at 2-3 kHz, 101 taps, 0 dB: peak gain 1, deep notch at 2.5 kHz.
    params = RawBoostParams(n_bands=1, min_f=2500, max_f=2500, min_bw=1000, max_bw=1000,
                            min_coeff=101, max_coeff=101)
    b = notch_coefficients(np.random.default_rng(0), params, SR, 0.0, 0.0)
    assert len(b) == 101
    freqs, response = signal.freqz(b, 1, worN=[500.0, 2500.0, 6000.0], fs=SR)
    gain = np.abs(response)
    assert np.max(np.abs(signal.freqz(b, 1, fs=SR)[1])) == pytest.approx(1.0, abs=1e-9)
    assert gain[1] < 0.01 and gain[0] > 0.95 and gain[2] > 0.95
    six_db_down = notch_coefficients(np.random.default_rng(0), params, SR, -6.0, -6.0)
    assert np.max(np.abs(signal.freqz(six_db_down, 1, fs=SR)[1])) == \
        pytest.approx(10 ** (-6 / 20), abs=1e-9)


def test_even_tap_counts_become_odd():
    params = RawBoostParams(n_bands=1, min_coeff=20, max_coeff=20)
    assert len(notch_coefficients(np.random.default_rng(1), params, SR, 0, 0)) == 21


def test_filter_fir_keeps_length_and_official_alignment():
    # The official filterFIR skips (len(b) + 1) // 2 output samples, one more than the
    # filter's delay: every filter advances the signal by one sample (kept for parity).
    x = np.arange(10, dtype=float)
    for b in ([1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0]):
        y = filter_fir(x, np.array(b))
        assert len(y) == 10 and np.allclose(y, np.r_[x[1:], 0.0], atol=1e-12)


def test_isd_touches_at_most_p_percent_within_gain():
    x = _tone()
    params = RawBoostParams(p=10, g_sd=2)
    for seed in range(5):
        y = isd_additive_noise(x, np.random.default_rng(seed), params)
        changed = y != x
        assert changed.mean() <= 0.10
        ratio = (y[changed] - x[changed]) / x[changed]
        assert np.all(np.abs(ratio) <= 2.0 + 1e-12)
    assert (isd_additive_noise(x, np.random.default_rng(0), params) != x).sum() > 100


@pytest.mark.parametrize("snr_db", [10.0, 25.0])
def test_ssi_adds_noise_at_the_drawn_snr(snr_db):
    x = _tone()
    params = RawBoostParams(snr_min=snr_db, snr_max=snr_db)
    y = ssi_additive_noise(x, np.random.default_rng(3), params, SR)
    noise = y - x
    measured = 20 * np.log10(np.linalg.norm(x) / np.linalg.norm(noise))
    assert measured == pytest.approx(snr_db, abs=1e-9)


def test_lnl_linear_only_is_zero_mean_filtered_signal():
    x = _tone()
    params = RawBoostParams(n_f=1)
    y = lnl_convolutive_noise(x, np.random.default_rng(4), params, SR)
    b = notch_coefficients(np.random.default_rng(4), params, SR, 0.0, 0.0)
    expected = filter_fir(x, b)
    assert np.allclose(y, expected - expected.mean(), atol=1e-12)
    assert abs(y.mean()) < 1e-12 and np.max(np.abs(y)) <= 1.0


def test_lnl_nonlinear_terms_are_quieter():
    x = 0.5 * np.sin(2 * np.pi * 300 * np.arange(16000) / SR)
    lin = lnl_convolutive_noise(x, np.random.default_rng(5), RawBoostParams(n_f=1), SR)
    both = lnl_convolutive_noise(x, np.random.default_rng(5), RawBoostParams(n_f=2), SR)
    extra = both - lin
    assert 0 < np.linalg.norm(extra) < 0.5 * np.linalg.norm(lin)


def test_algorithms_by_number_and_name_are_reproducible():
    x = _tone().astype(np.float32)
    assert ALGORITHMS["lnl+isd"] == 5 and ALGORITHMS["ssi"] == 3
    assert np.array_equal(RawBoost(0)(x, np.random.default_rng(0)), x)
    for algo in range(1, 9):
        a = RawBoost(algo)(x, np.random.default_rng(7))
        b = RawBoost(algo)(x, np.random.default_rng(7))
        assert a.dtype == np.float32 and a.shape == x.shape and np.array_equal(a, b)
        assert not np.array_equal(a, x)
    assert np.array_equal(RawBoost("lnl+isd")(x, np.random.default_rng(2)),
                          RawBoost(5)(x, np.random.default_rng(2)))
    assert RawBoost(5, params={"p": 20}).describe()["p"] == 20


def test_bad_settings_name_the_choices():
    with pytest.raises(ValueError, match="lnl\\+isd"):
        RawBoost("lnl+xyz")
    with pytest.raises(ValueError, match="0-8"):
        RawBoost(9)
    with pytest.raises(ValueError, match=r"RawBoost params: unknown option\(s\) snr; allowed: "):
        RawBoost(3, params={"snr": 5})
