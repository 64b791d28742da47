"""The results table, per-attack table and bar chart."""

import csv

import numpy as np
import pytest

from reconfake.cli import main


def _scores(path, shift, seed):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        f.write("utt_id,score,label,attack\n")
        for i in range(20):
            f.write(f"b{i},{rng.normal(shift, 1):.4f},bonafide,bonafide\n")
            f.write(f"s{i},{rng.normal(0, 1):.4f},spoof,{'A1' if i % 2 else 'A2'}\n")


def test_report_table_shape_and_values(tmp_path, capsys):
    files = []
    for m, model in enumerate(["baseline", "opus"]):
        for e, evalset in enumerate(["ev1", "ev2"]):
            path = tmp_path / "scores" / model / f"{evalset}.csv"
            _scores(path, shift=1 + 3 * m, seed=10 * m + e)
            files.append(str(path))
    out = tmp_path / "report"
    assert main(["report", "--scores", *files, "--models", "baseline", "opus",
                 "--eval-sets", "ev1", "ev2", "--paradigms", '{"opus": "codec"}',
                 "--note", "STAND-IN", "--reported", '{"ev1": 1.5, "ev2": 2.5}',
                 "--out-dir", str(out)]) == 0
    rows = list(csv.reader((out / "table.csv").open()))
    assert rows[0] == ["model", "paradigm",
                       "ev1 EER%", "ev1 CI95 low", "ev1 CI95 high",
                       "ev2 EER%", "ev2 CI95 low", "ev2 CI95 high",
                       "mean EER%", "mean CI95 low", "mean CI95 high",
                       "mean delta vs baseline", "delta CI95 low", "delta CI95 high"]
    assert [r[:2] for r in rows[1:]] == [["baseline", "-"], ["opus", "codec"],
                                         ["*paper (reported)*", "reported, not reproduced"]]
    assert rows[3][2:] == ["1.5", "", "", "2.5", "", "", "2.0", "", "", "", "", ""]
    for r in rows[1:3]:
        eer1, eer2, mean = float(r[2]), float(r[5]), float(r[8])
        assert mean == pytest.approx((eer1 + eer2) / 2, abs=1e-3)
        for k in (2, 5, 8):  # each interval holds its point estimate and is not empty
            assert float(r[k + 1]) <= float(r[k]) <= float(r[k + 2])
            if r[0] == "baseline":  # overlapping classes, 20 + 20 trials: wide intervals
                assert float(r[k + 2]) - float(r[k + 1]) > 10.0
    assert float(rows[2][8]) < float(rows[1][8])  # the better-separated model wins
    assert rows[1][11:] == ["0.0", "0.0", "0.0"]  # the baseline against itself
    delta = [float(v) for v in rows[2][11:]]
    assert delta[0] == pytest.approx(float(rows[2][8]) - float(rows[1][8]), abs=1e-3)
    assert delta[1] <= delta[0] <= delta[2] < 0  # shift 4 vs 1: better with certainty
    md = (out / "table.md").read_text()
    assert md.startswith("> STAND-IN") and md.count("\n| ") == 4
    assert "bootstrap" in md and f"| {float(rows[1][2]):.2f} [" in md
    per_attack = list(csv.DictReader((out / "eer_per_attack.csv").open()))
    assert len(per_attack) == 2 * 2 * 2 and {r["attack"] for r in per_attack} == {"A1", "A2"}
    for name in ("eer_by_paradigm.png", "det_curves.png"):
        png = (out / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert (out / "eer_per_attack.md").read_text().count("\n| ") == 9


def test_missing_score_file_is_named(tmp_path):
    path = tmp_path / "baseline" / "ev1.csv"
    _scores(path, 1, 0)
    with pytest.raises(ValueError, match=r"\('baseline', 'ev2'\)"):
        from reconfake.report import write_report

        write_report([str(path)], tmp_path / "r", ["baseline"], ["ev1", "ev2"])


def test_evaluate_rejects_bad_label(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("utt_id,score,label\na,1.0,bonafide\nb,0.5,fake\n")
    from reconfake.evaluate import evaluate_file

    with pytest.raises(ValueError, match="s.csv, line 3: label 'fake'"):
        evaluate_file(path)


def test_benchmark_summary_rows(tmp_path):
    from reconfake.report import benchmark_rows

    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (tmp_path / "train").mkdir()
    (tmp_path / "reconstruct" / "opus").mkdir(parents=True)
    (tmp_path / "train" / "opus.tsv").write_text(
        header + "216.75\t0:03:36\t987.79\t2761.07\t795.02\t848.11\t0.45\t26.41\t34.16\t74.20\n")
    (tmp_path / "reconstruct" / "opus" / "001.tsv").write_text(
        header + "9.0\t0:00:09\t1.0\t1\t1\t1\t0\t0\t5\t1\n"
        + "21.391\t0:00:21\tNA\t1\t1\t1\t0\t0\t50.5\t10.0\n")  # the last run counts
    assert benchmark_rows(tmp_path) == (
        ["stage", "job", "wall_s", "max_rss_mb", "mean_load_pct", "cpu_s"],
        [["reconstruct", "opus/001", 21.39, None, 50.5, 10.0],
         ["train", "opus", 216.75, 987.79, 34.16, 74.2]])
    assert benchmark_rows(tmp_path / "absent")[1] == []
    (tmp_path / "train" / "bad.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match=r"bad.tsv: not a Snakemake benchmark file"):
        benchmark_rows(tmp_path)


def test_benchmark_summary_of_declared_files_only(tmp_path):
    from reconfake.report import benchmark_rows

    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    row = "12.5\t0:00:12\t300.0\t1\t1\t1\t0\t0\t90.0\t11.25\n"
    files = [tmp_path / "data" / "benchmarks" / "corpora" / "mini_train.tsv",
             tmp_path / "results" / "benchmarks" / "score" / "opus" / "a.tsv"]
    for f in files + [tmp_path / "results" / "benchmarks" / "train" / "other_run.tsv"]:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(header + row)
    # the run's own files only: another run's file in the same folder is not summarised
    assert benchmark_rows([str(f) for f in files])[1] == [
        ["corpora", "mini_train", 12.5, 300.0, 90.0, 11.25],
        ["score", "opus/a", 12.5, 300.0, 90.0, 11.25]]
    with pytest.raises(FileNotFoundError):
        benchmark_rows([str(tmp_path / "results" / "benchmarks" / "train" / "absent.tsv")])
    with pytest.raises(ValueError, match=r"expected a path \.\.\./benchmarks/<stage>/<job>\.tsv"):
        benchmark_rows([str(tmp_path / "x.tsv")])


def test_report_stage_imports_no_torch():
    """envs/report.yaml has no torch: report, hardness and study-info must not import it."""
    import subprocess
    import sys

    code = ("import sys; from reconfake.cli import build_parser; build_parser(); "
            "import reconfake.report, reconfake.hardness, reconfake.shards; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _bona_shift_scores(path, shift):
    """4 + 4 trials: bona fide at 0..3 + shift, spoof at 0..3 (EER falls as shift grows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"b{i},{i + shift},bonafide,bonafide" for i in range(4)] + \
        [f"s{i},{i},spoof,A1" for i in range(4)]
    path.write_text("utt_id,score,label,attack\n" + "\n".join(rows) + "\n")


def test_seeds_table_mean_min_max_over_runs(tmp_path):
    # shift 0: EER 50 %; 1.5: bona fide 1.5..4.5 vs spoof 0..3 -> 25 %; 4: 0 %
    shifts = {("opus", "ev1"): 0, ("opus_seed1", "ev1"): 1.5, ("opus", "ev2"): 4,
              ("opus_seed1", "ev2"): 4, ("baseline", "ev1"): 0, ("baseline", "ev2"): 0}
    files = []
    for (model, evalset), shift in shifts.items():
        path = tmp_path / "scores" / model / f"{evalset}.csv"
        _bona_shift_scores(path, shift)
        files.append(str(path))
    groups = '{"opus": [[0, "opus"], [1, "opus_seed1"]], "baseline": [[0, "baseline"]]}'
    out = tmp_path / "report"
    assert main(["report", "--scores", *files, "--models", "baseline", "opus", "opus_seed1",
                 "--eval-sets", "ev1", "ev2", "--paradigms", '{"opus": "codec"}',
                 "--seed-groups", groups, "--out-dir", str(out)]) == 0
    rows = list(csv.reader((out / "seeds.csv").open()))
    assert rows[0] == ["model", "paradigm", "seeds",
                       "ev1 EER% mean over seeds", "ev1 min", "ev1 max",
                       "ev2 EER% mean over seeds", "ev2 min", "ev2 max",
                       "mean EER% mean over seeds", "mean min", "mean max"]
    assert rows[1] == ["baseline", "-", "0", "50.0", "50.0", "50.0", "50.0", "50.0", "50.0",
                       "50.0", "50.0", "50.0"]
    assert rows[2] == ["opus", "codec", "0 1", "37.5", "25.0", "50.0", "0.0", "0.0", "0.0",
                       "18.75", "12.5", "25.0"]
    png = (out / "seeds.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    # without groups every model stands alone; a group naming a run with no scores is an error
    assert main(["report", "--scores", *files, "--models", "baseline", "opus", "--eval-sets",
                 "ev1", "--out-dir", str(tmp_path / "r2")]) == 0
    assert [r[:3] for r in csv.reader((tmp_path / "r2" / "seeds.csv").open())][1:] == \
        [["baseline", "-", "-"], ["opus", "-", "-"]]
    with pytest.raises(ValueError, match=r"seed group opus: no scores for run\(s\) \['opus_seed2'\]"):
        from reconfake.report import write_report

        write_report(files, tmp_path / "r3", ["opus"], ["ev1"],
                     seed_groups={"opus": [[0, "opus"], [2, "opus_seed2"]]})
