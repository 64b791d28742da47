"""The one device resolver: names, ``auto``, and the errors for unknown names and missing CUDA."""

import pytest
import torch

from reconfake.devices import resolve_device
from reconfake.paradigms.registry import BackendError


def test_names_resolve_to_devices(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_errors_name_the_owner(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"^training: device 'tpu'; use auto, cpu or cuda\[:N\]$"):
        resolve_device("tpu", "training")
    with pytest.raises(ValueError, match="device 'cuda:x'; use auto"):
        resolve_device("cuda:x")
    with pytest.raises(ValueError, match=r"^scoring: device 'cuda' asked for, but torch sees no "
                                         "CUDA GPU"):
        resolve_device("cuda", "scoring")
    with pytest.raises(BackendError, match=r"^backend encodec: device 'cuda:0' asked for"):
        resolve_device("cuda:0", "backend encodec", BackendError)


def test_backends_resolve_auto(monkeypatch):
    from reconfake.paradigms.registry import build_backend

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert build_backend("griffinlim", {}, device="auto").device == "cpu"
    with pytest.raises(BackendError, match="backend griffinlim: device 'cuda' asked for"):
        build_backend("griffinlim", {}, device="cuda")
