"""The generic lazy registry, and the three registries built on it (backends, architectures,
corpora): every table entry resolves to what its module registers under that name."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reconfake.options import reject_unknown
from reconfake.registry import LazyRegistry

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def widgets(tmp_path, monkeypatch):
    """A package ``widgetpkg_<n>`` made for the test: a table of widgets ``a``, ``b`` (one module
    each), ``c`` (a module registering nothing) and ``d`` (a module registering ``a`` again)."""
    pkg = f"widgetpkg_{abs(hash(tmp_path)) % 10**8}"
    root = tmp_path / pkg
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "table.py").write_text(textwrap.dedent(f"""
        from reconfake.registry import LazyRegistry
        WIDGETS = LazyRegistry("widget", {{"a": "{pkg}.a", "b": "{pkg}.b", "c": "{pkg}.c",
                                          "d": "{pkg}.d"}}, error=LookupError)
    """))
    for name, value in (("a", 1), ("b", 2)):
        (root / f"{name}.py").write_text(textwrap.dedent(f"""
            from {pkg}.table import WIDGETS
            @WIDGETS.register("{name}")
            def widget():
                return {value}
        """))
    (root / "c.py").write_text("VALUE = 3\n")
    (root / "d.py").write_text(textwrap.dedent(f"""
        from {pkg}.table import WIDGETS
        WIDGETS.register("a")(lambda: 4)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield pkg
    for name in [m for m in sys.modules if m == pkg or m.startswith(pkg + ".")]:
        del sys.modules[name]


def test_get_imports_only_the_named_module(widgets):
    import importlib

    table = importlib.import_module(f"{widgets}.table").WIDGETS
    assert table.names() == ["a", "b", "c", "d"] and "b" in table and "z" not in table
    assert table.module("b") == f"{widgets}.b"
    assert not {f"{widgets}.{m}" for m in "abcd"} & set(sys.modules)  # listing imported nothing
    assert table.get("b")() == 2
    assert f"{widgets}.b" in sys.modules
    assert not {f"{widgets}.{m}" for m in "acd"} & set(sys.modules)
    assert table.get("b") is table.get("b")


def test_unknown_name_lists_the_known_ones(widgets):
    import importlib

    table = importlib.import_module(f"{widgets}.table").WIDGETS
    with pytest.raises(LookupError, match=r"^unknown widget 'z'; known: a, b, c, d$"):
        table.get("z")
    with pytest.raises(LookupError, match=r"^unknown widget 'z'; known: a, b, c, d$"):
        table.module("z")


def test_module_registering_nothing_is_an_error(widgets):
    import importlib

    table = importlib.import_module(f"{widgets}.table").WIDGETS
    with pytest.raises(LookupError, match=rf"^module {widgets}\.c registers no widget 'c'$"):
        table.get("c")
    assert f"{widgets}.c" in sys.modules


def test_a_second_object_under_one_name_is_an_error(widgets):
    import importlib

    table = importlib.import_module(f"{widgets}.table").WIDGETS
    first = table.get("a")
    assert table.register("a")(first) is first  # the same object again is fine
    with pytest.raises(ValueError, match=r"two widget objects are registered as 'a'"):
        table.get("d")  # d.py registers another object as "a"
    assert table.get("a") is first and first() == 1


def test_a_name_missing_from_the_table_cannot_register():
    table: LazyRegistry[int] = LazyRegistry("widget", {"a": "nowhere"})
    with pytest.raises(ValueError, match=r"widget 'b' is not in the registry's table"):
        table.register("b")(5)
    assert table.names() == ["a"]


def test_reject_unknown_message_and_error_type():
    reject_unknown({"x": 1}, ("x", "y"), "thing")  # all known: no error
    with pytest.raises(KeyError, match=r"thing: unknown option\(s\) a, b; allowed: x, y"):
        reject_unknown(["b", "x", "a"], ("y", "x"), "thing", KeyError)


# ----------------------------------------------------------------------- the three registries


def test_every_backend_resolves_to_its_class():
    from reconfake.paradigms.registry import BACKEND_CLASSES, BACKENDS, backend_class

    assert BACKEND_CLASSES.names() == list(BACKENDS)
    for name, info in BACKENDS.items():
        cls = backend_class(name)
        assert (cls.name, cls.__module__) == (name, f"reconfake.paradigms.{info.module}")
        assert BACKEND_CLASSES.module(name) == cls.__module__


def test_every_architecture_resolves_to_its_builder():
    from reconfake.detector.registry import ARCHITECTURES, architectures

    assert architectures() == ["aasist", "aasist-l", "mel_cnn", "ssl_aasist"]
    for name in architectures():
        builder = ARCHITECTURES.get(name)
        assert callable(builder) and builder.__module__ == ARCHITECTURES.module(name), name
    assert ARCHITECTURES.get("aasist") is not ARCHITECTURES.get("aasist-l")
    with pytest.raises(ValueError, match=r"^architecture mel_cnn: unknown option\(s\) chanels; allowed: "
                                         r"channels, dropout, embedding_dim, n_mels, sample_rate$"):
        ARCHITECTURES.get("mel_cnn")(chanels=(8,))


def test_aasist_l_builds_the_smaller_model():
    from reconfake.detector.registry import build_model

    sizes = {name: sum(p.numel() for p in build_model(name).parameters())
             for name in ("aasist", "aasist-l")}
    assert sizes == {"aasist": 297_866, "aasist-l": 85_306}


def test_every_corpus_resolves_to_its_spec_and_reader():
    from reconfake.corpora.registry import CORPORA, corpus, corpus_names, corpus_spec

    assert corpus_names() == ["asvspoof2019_la", "in_the_wild", "wavefake", "codecfake_wu",
                              "codecfake_xie", "diffssd"]
    for name in corpus_names():
        entry = corpus(name)
        assert entry.spec.name == name and corpus_spec(name) is entry.spec
        assert entry.collect.__module__ == CORPORA.module(name)
    with pytest.raises(ValueError, match=r"unknown corpus 'nope'; known: asvspoof2019_la, "):
        corpus("nope")


def test_listing_the_registries_imports_no_torch():
    code = (
        "import sys\n"
        "from reconfake.paradigms.registry import backend_info, check_options, backend_module_file\n"
        "from reconfake.detector.registry import architectures\n"
        "from reconfake.corpora.registry import corpus_names\n"
        "check_options('opus', {'bitrate': 6000})\n"
        "print(len(architectures()), len(corpus_names()), backend_info('dac').paradigm,\n"
        "      backend_module_file('dac').name, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}).stdout
    assert out.split() == ["4", "6", "codec", "dac.py", "False"]
