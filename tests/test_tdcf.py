"""min t-DCF (ASVspoof 2019, legacy) on constructed scores whose values were worked by hand."""

import json

import numpy as np
import pytest

from reconfake.cli import main
from reconfake.evaluate import (
    TDCFCostModel,
    asv_error_rates,
    evaluate_file,
    min_tdcf,
    read_asv_scores,
)

# ASV: sorted pooled scores -1n 0n 1n 2t 2.5n 3t 4t 5t -> EER 25 % at threshold 2, so
# Pfa_asv = P(non >= 2) = 1/4, Pmiss_asv = P(tar < 2) = 0, Pmiss_spoof_asv = P(spoof < 2) = 2/4.
TARGET, NONTARGET, SPOOF = [2.0, 3.0, 4.0, 5.0], [-1.0, 0.0, 1.0, 2.5], [1.5, 3.5, 0.5, 4.5]
# C1 = 0.9405 * (1 - 1 * 0) - 0.0095 * 10 * 0.25 = 0.91675;  C2 = 10 * 0.05 * (1 - 0.5) = 0.25
C1, C2 = 0.91675, 0.25
# CM sorted: 0.1s 0.2s 0.3b 0.4s 0.8b 0.85s 0.9b. Rejecting <= 0.2: Pmiss 0, Pfa 2/4, so
# t-DCF = C2 * 0.5 / min(C1, C2) = 0.5, the minimum (next: (C1/3 + C2/4) / C2 = 1.4723).
BONA_CM, SPOOF_CM = [0.9, 0.8, 0.3], [0.1, 0.4, 0.2, 0.85]


def _asv():
    return asv_error_rates(np.array(TARGET), np.array(NONTARGET), np.array(SPOOF))


def test_asv_error_rates_at_eer_threshold():
    asv = _asv()
    assert asv.threshold == 2.0
    assert (asv.Pfa_asv, asv.Pmiss_asv, asv.Pmiss_spoof_asv) == (0.25, 0.0, 0.5)


def test_cost_model_is_asvspoof2019():
    cost = TDCFCostModel()
    assert (cost.Pspoof, cost.Ptar, cost.Pnon) == (0.05, 0.9405, 0.0095)
    assert cost.Ptar + cost.Pnon + cost.Pspoof == pytest.approx(1.0, abs=1e-12)
    assert (cost.Cmiss_asv, cost.Cfa_asv, cost.Cmiss_cm, cost.Cfa_cm) == (1, 10, 1, 10)


def test_min_tdcf_hand_checked():
    value, threshold = min_tdcf(np.array(BONA_CM), np.array(SPOOF_CM), _asv())
    assert value == pytest.approx(0.5, abs=1e-12)
    assert threshold == 0.2
    # One step further (reject <= 0.3): Pmiss 1/3, Pfa 1/2 -> (C1 / 3 + C2 / 2) / C2.
    assert (C1 / 3 + C2 / 2) / C2 == pytest.approx(1.72233, abs=1e-5)


def test_perfect_and_useless_countermeasures():
    asv = _asv()
    assert min_tdcf(np.array([3.0, 4.0]), np.array([0.0, 1.0, 2.0]), asv)[0] == 0.0
    # Reversed scores: the best a useless CM does is to accept everything, t-DCF = C2 / C2 = 1.
    assert min_tdcf(np.array([0.0, 1.0]), np.array([2.0, 3.0, 4.0]), asv)[0] == \
        pytest.approx(1.0, abs=1e-12)


def test_hard_decisions_are_refused():
    with pytest.raises(ValueError, match="soft CM scores"):
        min_tdcf(np.array([1.0, 1.0]), np.array([0.0, 0.0]), _asv())


def _write_asv(path, four_columns=True):
    lines = []
    for key, values in (("target", TARGET), ("nontarget", NONTARGET), ("spoof", SPOOF)):
        for i, v in enumerate(values):
            lines.append(f"LA_00{i} LA_E_{key}{i} {key} {v}" if four_columns else f"A0{i} {key} {v}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("four_columns", [True, False])
def test_read_asv_scores_both_layouts(tmp_path, four_columns):
    scores = read_asv_scores(_write_asv(tmp_path / "asv.txt", four_columns))
    assert scores["target"].tolist() == TARGET and scores["spoof"].tolist() == SPOOF


def test_bad_asv_line_names_file_and_line(tmp_path):
    path = tmp_path / "asv.txt"
    path.write_text("LA_0001 LA_E_1 target 1.0\nLA_0001 LA_E_2 impostor 0.5\n")
    with pytest.raises(ValueError, match=r"asv.txt, line 2: expected"):
        read_asv_scores(path)
    path.write_text("LA_0001 LA_E_1 target 1.0\nLA_0001 LA_E_2 nontarget 0.5\n")
    with pytest.raises(ValueError, match="no spoof trials"):
        read_asv_scores(path)


def test_evaluate_cli_with_asv_scores(tmp_path, capsys):
    cm = tmp_path / "scores.csv"
    rows = [f"b{i},{s},bonafide,bonafide" for i, s in enumerate(BONA_CM)]
    rows += [f"s{i},{s},spoof,A0{i % 2 + 7}" for i, s in enumerate(SPOOF_CM)]
    cm.write_text("utt_id,score,label,attack\n" + "\n".join(rows) + "\n")
    asv = _write_asv(tmp_path / "asv.txt")
    assert evaluate_file(cm).min_tdcf is None
    assert main(["evaluate", str(cm), "--json", "--asv-scores", str(asv)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["min_tdcf"] == pytest.approx(0.5, abs=1e-12)
    assert result["n_bonafide"] == 3 and result["n_spoof"] == 4
    assert main(["evaluate", str(cm), "--asv-scores", str(asv)]) == 0
    assert "min t-DCF 0.5000" in capsys.readouterr().out
