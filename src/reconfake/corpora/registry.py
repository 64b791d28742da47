"""The real corpora by name, and the three steps every one of them supports.

``download`` (fetch, verify, extract; :mod:`reconfake.corpora.download`), ``register`` (an
already-extracted copy on disk: check its protocols, download nothing) and ``prepare`` (write
the Parquet manifests, :func:`reconfake.corpora.spec.prepare_corpus` on what ``collect`` read).
Adding a corpus is one module that registers its :class:`~reconfake.corpora.spec.Corpus` (its
``SPEC`` and ``collect``) with ``CORPORA.register(name)``, plus one line in the table here;
listing the names imports no corpus module.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from reconfake.corpora.spec import (
    MARKER,
    Corpus,
    CorpusSpec,
    Options,
    PrepareError,
    prepare_corpus,
    read_marker,
)
from reconfake.fileio import write_text_atomic
from reconfake.registry import LazyRegistry

log = logging.getLogger("reconfake")

CORPORA: LazyRegistry[Corpus] = LazyRegistry("corpus", {
    "asvspoof2019_la": "reconfake.corpora.asvspoof2019_la",
    "in_the_wild": "reconfake.corpora.in_the_wild",
    "wavefake": "reconfake.corpora.wavefake",
    "codecfake_wu": "reconfake.corpora.codecfake_wu",
    "codecfake_xie": "reconfake.corpora.codecfake_xie",
    "diffssd": "reconfake.corpora.diffssd",
})


def corpus_names() -> list[str]:
    """Names of the real corpora, as used on the command line and in the config (no import)."""
    return CORPORA.names()


def corpus(name: str) -> Corpus:
    """Corpus ``name`` (its ``spec`` and ``collect``), importing its module only."""
    return CORPORA.get(name)


def corpus_spec(name: str) -> CorpusSpec:
    """The :class:`CorpusSpec` of corpus ``name``."""
    return corpus(name).spec


def register_corpus(name: str, root: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                    options: Options = None) -> Path:
    """Use an already-extracted copy at ``root``: read its protocols, then write the marker.

    Returns:
        The ``.downloaded`` marker path in ``out_dir``.
    """
    reader = corpus(name)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise PrepareError(f"{name}: local copy {root} is not a folder")
    opts = reader.spec.resolve_options(options)
    entries = reader.collect(root, opts)  # parses every protocol: a broken copy fails here
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
    reader = corpus(name)
    marker = read_marker(out_dir)
    if marker is not None and marker.get("corpus") not in (None, name):
        raise PrepareError(f"{Path(out_dir) / MARKER}: written for corpus {marker['corpus']!r}, not {name!r}")
    if root is None:
        root = marker["root"] if marker else out_dir
    if options is None:
        options = (marker or {}).get("options") or {}
    # provenance a result can name: how the files came, with which options, and for Hugging
    # Face datasets the commit that was actually fetched
    metadata = {"options": json.dumps(reader.spec.resolve_options(options), sort_keys=True)}
    for key in ("mode", "mirror", "revisions"):
        if marker and marker.get(key) is not None:
            value = marker[key]
            metadata[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return prepare_corpus(reader.spec, reader.collect(root, options), root, out_dir, strict, metadata)
