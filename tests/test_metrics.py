"""EER against the official ASVspoof computation and on constructed cases."""

import json

import numpy as np
import pytest

from reconfake.metrics import compute_eer, det_curve
from tests.conftest import SHARED, needs_shared

CASES = SHARED / "reference" / "eer_cases.json"


@needs_shared(CASES)
def test_matches_official_eer_vectors():
    cases = json.loads(CASES.read_text())
    assert len(cases) >= 4
    for case in cases:
        eer, threshold = compute_eer(np.array(case["bonafide"]), np.array(case["spoof"]))
        assert eer == pytest.approx(case["eer"], abs=1e-12)
        assert threshold == pytest.approx(case["threshold"], abs=1e-12)


def test_perfect_separation_is_zero():
    eer, threshold = compute_eer(np.array([2.0, 3.0]), np.array([-1.0, 0.0, 1.0]))
    assert eer == 0.0
    assert threshold == 1.0


def test_reversed_scores_are_one():
    assert compute_eer(np.array([-1.0]), np.array([1.0]))[0] == 1.0


def test_all_tied_follows_the_official_tie_order():
    # Bona fide sort first among ties, so after all 4 bona fide (miss 1) no spoof has been
    # rejected yet (false alarm 1): the official code reports 100 %, not 50 %.
    assert compute_eer(np.zeros(4), np.zeros(6))[0] == 1.0


def test_known_overlap():
    # sorted: 0s 1b 1s 2b 2s 3b 3s 4b; miss and false alarm meet at 0.5 after "2s"
    eer, threshold = compute_eer(np.array([1, 2, 3, 4.0]), np.array([0, 1, 2, 3.0]))
    assert eer == pytest.approx(0.5)
    assert threshold == 2.0


def test_det_curve_is_monotone():
    rng = np.random.default_rng(0)
    curve = det_curve(rng.normal(1, 1, 200), rng.normal(-1, 1, 300))
    assert np.all(np.diff(curve.miss) >= 0) and np.all(np.diff(curve.false_alarm) <= 0)
    assert curve.miss[0] == 0 and curve.false_alarm[0] == 1
    assert curve.miss[-1] == 1 and curve.false_alarm[-1] == 0


def test_empty_class_and_nan_are_errors():
    with pytest.raises(ValueError, match="both classes"):
        compute_eer(np.array([]), np.array([1.0]))
    with pytest.raises(ValueError, match="NaN"):
        compute_eer(np.array([np.nan]), np.array([1.0]))
