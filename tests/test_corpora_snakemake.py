"""Real corpora through Snakemake itself: Snakemake downloads from a file:// mirror and registers
a local copy end to end. (The paper profile's dry run is in test_workflow.py.)"""

from __future__ import annotations

from reconfake.manifest import read_manifest
from tests.corpora_fixtures import asv_files, itw_files, write_zip
from tests.test_corpora_workflow import ALL_CORPORA, _config, _snakemake


def test_snakemake_downloads_from_a_file_mirror_and_registers_a_local_copy(tmp_path):
    mirror = tmp_path / "mirror"
    write_zip(mirror / "release_in_the_wild.zip", itw_files())
    copy = tmp_path / "datasets" / "LA"
    for name, data in asv_files().items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(data)
    config = {**ALL_CORPORA, "corpora": {"in_the_wild": {"mirror": mirror.as_uri()},
                                         "asvspoof2019_la": {"local_copy": str(copy)}}}
    config["eval_sets"] = {"la19": "asvspoof2019_la/eval", "itw": "in_the_wild/eval"}
    args = ["data/in_the_wild/eval.parquet", "data/asvspoof2019_la/train.parquet", "--cores", "2",
            "--configfile", str(_config(tmp_path, config))]
    result = _snakemake(args, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(read_manifest(tmp_path / "data" / "in_the_wild" / "eval.parquet")) == 4
    assert len(read_manifest(tmp_path / "data" / "asvspoof2019_la" / "train.parquet")) == 3
    log = (tmp_path / "data" / "logs" / "corpora" / "prepare_in_the_wild.log").read_text()
    assert "in_the_wild/eval: found 4 clips (2 bonafide, 2 spoof), the corpus has 31779" in log
    assert (tmp_path / "data" / "asvspoof2019_la" / ".downloaded").read_text().count('"register"') == 1
