"""Which revision a pretrained backend asks the Hub for: the pin belongs to the default id only."""

from __future__ import annotations

import pytest
import yaml

from reconfake.paradigms import pretrained
from reconfake.paradigms.registry import backend_class, build_backend
from tests.conftest import REPO


class _Asked(Exception):
    pass


@pytest.fixture
def asked(monkeypatch):
    calls: list[tuple[str, str | None]] = []

    def fake_resolve(backend, model, revision, *args, **kwargs):
        calls.append((model, revision))
        raise _Asked

    monkeypatch.setattr(pretrained, "resolve_model", fake_resolve)
    return calls


@pytest.mark.parametrize("name", ["encodec", "dac", "hifigan", "audioldm"])
def test_default_id_gets_the_pinned_revision(name, asked):
    cls = backend_class(name)
    pin = cls.default_revision
    assert pin is not None and len(pin) == 40
    for options in ({}, {"model": cls.default_model}):
        with pytest.raises(_Asked):
            build_backend(name, options, device="cpu")
    assert asked == [(cls.default_model, pin)] * 2
    with pytest.raises(_Asked):
        build_backend(name, {"model": "someone/other-model"}, device="cpu")
    with pytest.raises(_Asked):
        build_backend(name, {"model": "someone/other-model", "revision": "v1"}, device="cpu")
    assert asked[2:] == [("someone/other-model", None), ("someone/other-model", "v1")]


def test_paper_profile_pins_every_hub_backend():
    config = yaml.safe_load((REPO / "config.paper.yaml").read_text())
    for name, spec in config["reconstruction"]["backends"].items():
        if spec["backend"] == "semanticodec":  # two-commit repository; shards record the one used
            continue
        cls = backend_class(spec["backend"])
        assert spec["options"]["revision"] == cls.default_revision, name
        assert spec["options"]["model"] == cls.default_model, name

