"""The real corpora by name, and the three steps every one of them supports.

``download`` (fetch, verify, extract; :mod:`reconfake.corpora.download`), ``register`` (an
already-extracted copy on disk: check its protocols, download nothing) and ``prepare`` (write
the Parquet manifests, :func:`reconfake.corpora.spec.prepare_corpus` on what ``collect`` read).
Adding a corpus is one module exposing ``SPEC`` and ``collect``, plus one line here.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from pathlib import Path
from types import ModuleType

from reconfake.corpora.spec import MARKER, CorpusSpec, Options, PrepareError, prepare_corpus, read_marker
from reconfake.fileio import write_text_atomic

log = logging.getLogger("reconfake")

CORPORA = {
    "asvspoof2019_la": "reconfake.corpora.asvspoof2019_la",
    "in_the_wild": "reconfake.corpora.in_the_wild",
    "wavefake": "reconfake.corpora.wavefake",
    "codecfake_wu": "reconfake.corpora.codecfake_wu",
    "codecfake_xie": "reconfake.corpora.codecfake_xie",
    "diffssd": "reconfake.corpora.diffssd",
}


def corpus_names() -> list[str]:
    """Names of the real corpora, as used on the command line and in the config."""
    return list(CORPORA)


def corpus_module(name: str) -> ModuleType:
    """The module of corpus ``name`` (with ``SPEC`` and ``collect``)."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; available: {', '.join(CORPORA)}")
    return importlib.import_module(CORPORA[name])


def corpus_spec(name: str) -> CorpusSpec:
    """The :class:`CorpusSpec` of corpus ``name``."""
    return corpus_module(name).SPEC


def register_corpus(name: str, root: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                    options: Options = None) -> Path:
    """Use an already-extracted copy at ``root``: read its protocols, then write the marker.

    Returns:
        The ``.downloaded`` marker path in ``out_dir``.
    """
    module = corpus_module(name)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise PrepareError(f"{name}: local copy {root} is not a folder")
    opts = module.SPEC.resolve_options(options)
    entries = module.collect(root, opts)  # parses every protocol: a broken copy fails here
    counts = ", ".join(f"{split} {len(es)}" for split, es in entries.items())
    marker = Path(out_dir) / MARKER
    write_text_atomic(marker, json.dumps({"corpus": name, "mode": "register",
                                          "root": str(root.absolute()), "options": opts}, indent=1))
    log.info("%s: registered the local copy %s (%s clips named by its protocols) -> %s", name, root,
             counts, marker)
    return marker


def prepare_manifests(name: str, out_dir: str | os.PathLike[str], root: str | os.PathLike[str] | None = None,
                      strict: bool = False, options: Options = None) -> dict[str, Path]:
    """Write ``<out_dir>/<split>.parquet`` for corpus ``name``.

    Args:
        name: the corpus.
        out_dir: ``<data_dir>/<corpus>``.
        root: the extracted corpus; default: the root recorded by download/register in
            ``<out_dir>/.downloaded``, else ``out_dir``.
        strict: a mismatch with the corpus' known counts is an error.
        options: corpus options; default: those recorded in the marker.
    """
    module = corpus_module(name)
    marker = read_marker(out_dir)
    if marker is not None and marker.get("corpus") not in (None, name):
        raise PrepareError(f"{Path(out_dir) / MARKER}: written for corpus {marker['corpus']!r}, not {name!r}")
    if root is None:
        root = marker["root"] if marker else out_dir
    if options is None:
        options = (marker or {}).get("options") or {}
    # provenance a result can name: how the files came, with which options, and for Hugging
    # Face datasets the commit that was actually fetched
    metadata = {"options": json.dumps(module.SPEC.resolve_options(options), sort_keys=True)}
    for key in ("mode", "mirror", "revisions"):
        if marker and marker.get(key) is not None:
            value = marker[key]
            metadata[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return prepare_corpus(module.SPEC, module.collect(root, options), root, out_dir, strict, metadata)
