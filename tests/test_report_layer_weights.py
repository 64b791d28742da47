"""The report's layer-weight figure and CSV: every model with ``layer_weights.json`` on one
figure, a placeholder when none has any, and the per-model plot training draws."""

import csv
import json

import pytest
from PIL import Image

from reconfake.plots import frontend_trained, layer_weights_plot
from reconfake.report import write_layer_weights, write_report
from tests.test_report import _scores

PNG = b"\x89PNG\r\n\x1a\n"


def _record(path, aggregation, weights, frontend="tiny-random", trained=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "aggregation": aggregation, "frontend": frontend, "frontend_trained": trained,
        "layers": list(range(1, len(weights) + 1)), "weights": weights, "meaning": "test"}))
    return str(path)


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 0
    with Image.open(path) as image:
        return image.size


def test_two_models_on_one_figure_and_csv(tmp_path):
    models = tmp_path / "models"
    files = [_record(models / "opus" / "layer_weights.json", "sls", [0.2, 0.5, 0.9, 0.4]),
             _record(models / "baseline" / "layer_weights.json", "softmax",
                     [0.1, 0.2, 0.3, 0.4]),
             str(models / "last_layer" / "layer_weights.json")]  # aggregation last: none
    png, table = tmp_path / "report" / "layer_weights.png", tmp_path / "report" / "lw.csv"
    records = write_layer_weights(files, png, table, ["baseline", "opus", "last_layer"],
                                  banner="STAND-IN")
    assert list(records) == ["baseline", "opus"]  # model order, missing file skipped
    rows = list(csv.reader(table.open()))
    assert rows[0] == ["model", "layer", "weight"]
    assert rows[1:] == [["baseline", "1", "0.1"], ["baseline", "2", "0.2"], ["baseline", "3", "0.3"],
                        ["baseline", "4", "0.4"], ["opus", "1", "0.2"], ["opus", "2", "0.5"],
                        ["opus", "3", "0.9"], ["opus", "4", "0.4"]]
    width, height = _png_size(png)
    assert 700 <= width <= 2000 and 400 <= height <= 1200  # readable without zooming
    assert png.stat().st_size > 10_000


def test_placeholder_when_no_model_has_layer_weights(tmp_path):
    png, table = tmp_path / "lw.png", tmp_path / "lw.csv"
    assert write_layer_weights([str(tmp_path / "baseline" / "layer_weights.json")], png,
                               table) == {}
    assert table.read_text() == "model,layer,weight\n"
    width, height = _png_size(png)
    assert width > 400 and height > 150


def test_24_layers_stay_readable(tmp_path):
    record = {"aggregation": "sls", "frontend": "facebook/wav2vec2-xls-r-300m",
              "frontend_trained": True, "layers": list(range(1, 25)), "weights": [0.5] * 24}
    layer_weights_plot({f"m{i}": record for i in range(6)}, tmp_path / "lw.png")
    width, height = _png_size(tmp_path / "lw.png")
    assert 1000 <= width <= 2000 and height < 800


def test_malformed_record_is_named(tmp_path):
    path = tmp_path / "opus" / "layer_weights.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"layers": [1, 2], "weights": [0.5]}))
    with pytest.raises(ValueError, match=r"opus/layer_weights.json: expected 'layers'"):
        write_layer_weights([str(path)], tmp_path / "lw.png", tmp_path / "lw.csv")


def test_untrained_frontend_from_record_or_name():
    assert frontend_trained({"frontend": "x", "frontend_trained": False}) is False
    assert frontend_trained({"frontend": "tiny-random"}) is False  # older records
    assert frontend_trained({"frontend": "facebook/wav2vec2-xls-r-300m"}) is True


def test_write_report_includes_layer_weights(tmp_path):
    files = []
    for model in ("baseline", "opus"):
        path = tmp_path / "scores" / model / "ev1.csv"
        _scores(path, 2, 0)
        files.append(str(path))
    lw = [_record(tmp_path / "models" / "opus" / "layer_weights.json", "sls", [0.3, 0.6]),
          str(tmp_path / "models" / "baseline" / "layer_weights.json")]
    paths = write_report(files, tmp_path / "r", ["baseline", "opus"], ["ev1"],
                         layer_weights=lw)
    rows = list(csv.DictReader(paths["layer_weights_csv"].open()))
    assert [(r["model"], r["layer"], r["weight"]) for r in rows] == [("opus", "1", "0.3"),
                                                                     ("opus", "2", "0.6")]
    assert paths["layer_weights_png"].read_bytes()[:8] == PNG
    # without layer-weight files the outputs still exist (placeholder), as the rule expects
    paths = write_report(files, tmp_path / "r2", ["baseline", "opus"], ["ev1"])
    assert paths["layer_weights_csv"].read_text() == "model,layer,weight\n"
    assert paths["layer_weights_png"].stat().st_size > 0


def test_records_without_weights_are_models_without_layer_weights(tmp_path):
    """Training writes ``{"aggregation": ..., "weights": null}`` for a model without learned
    layer weights (the workflow declares the file for every model)."""
    from reconfake.report import read_layer_weights

    models = tmp_path / "models"
    none = models / "baseline" / "layer_weights.json"
    none.parent.mkdir(parents=True)
    none.write_text(json.dumps({"aggregation": "last", "weights": None}))
    files = [str(none), _record(models / "opus" / "layer_weights.json", "sls", [0.5, 0.25])]
    assert list(read_layer_weights(files, ["baseline", "opus"])) == ["opus"]


def test_training_writes_the_file_for_every_model(tmp_path, corpus):
    from reconfake.train import train_detector

    train, dev, _ = corpus
    train_detector(train, dev, tmp_path / "m", [], "mel_cnn",
                   {"channels": [4, 8], "embedding_dim": 16, "n_mels": 32},
                   {"epochs": 1, "batch_size": 4, "crop_samples": 8000, "eval_samples": 8000,
                    "threads": 1})
    record = json.loads((tmp_path / "m" / "layer_weights.json").read_text())
    assert record == {"aggregation": None, "weights": None}
    assert not (tmp_path / "m" / "layer_weights.png").exists()
