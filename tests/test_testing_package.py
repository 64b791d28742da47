"""reconfake.testing is part of the package: it imports without pytest and without tests/."""

import importlib
import sys

import pytest

MODULES = ("reconfake.testing", "reconfake.testing.twins", "reconfake.testing.checks",
           "reconfake.testing.fixtures")


@pytest.mark.parametrize("blocked", ["pytest", "tests"])
def test_package_imports_without(blocked, monkeypatch):
    for name in MODULES:
        importlib.import_module(name)
    monkeypatch.setitem(sys.modules, blocked, None)  # any `import <blocked>` now raises
    with pytest.raises(ImportError):
        importlib.import_module(blocked)
    for name in MODULES:
        module = importlib.reload(sys.modules[name])
        assert module.__doc__  # a module docstring says what the file is for


def test_fixture_factory_refuses_unknown_per_backend_names():
    from reconfake.testing.fixtures import twin_fixtures

    with pytest.raises(ValueError, match=r"per_backend names backends not in 'dac': \['opus'\]"):
        twin_fixtures("dac", per_backend={"opus": {}})
