"""The ``download``, ``register`` and ``prepare`` subcommands of ``reconfake`` for real corpora.

``reconfake.cli`` calls :func:`add_subcommands` on its subparsers; each command is a thin
wrapper over :mod:`reconfake.corpora.download` and :mod:`reconfake.corpora.registry`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def _options(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object, e.g. '{\"jsut\": true}'")
    return value


def cmd_download(args: argparse.Namespace) -> int:
    from reconfake.corpora.download import download_corpus
    from reconfake.corpora.registry import corpus_spec

    download_corpus(corpus_spec(args.corpus), args.out_dir, root=args.root, mirror=args.mirror,
                    archives_dir=args.archives_dir, keep_archives=args.keep_archives,
                    options=args.options, retries=args.retries, retry_wait=args.retry_wait,
                    timeout=args.timeout)
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    from reconfake.corpora.registry import register_corpus

    register_corpus(args.corpus, args.root, args.out_dir, args.options)
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from reconfake.corpora.registry import prepare_manifests

    prepare_manifests(args.corpus, args.out_dir, args.root, args.strict, args.options)
    return 0


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``download``, ``register`` and ``prepare`` to the ``reconfake`` parser."""
    from reconfake.corpora.registry import corpus_names

    names = corpus_names()
    s = subparsers.add_parser(
        "download", help="download, verify and extract a real corpus (resumable)",
        description="Fetch every archive of CORPUS from its official URL or a mirror, check size and "
                    "published checksum, extract safely, and write OUT_DIR/.downloaded.")
    s.add_argument("corpus", choices=names, metavar="CORPUS", help=", ".join(names))
    s.add_argument("--out-dir", required=True, help="<data_dir>/<corpus>: marker and manifests")
    s.add_argument("--root", help="where to extract the corpus (default: --out-dir)")
    s.add_argument("--mirror", help="base URL (http, https, file) or folder holding the official "
                                    "archive names")
    s.add_argument("--archives-dir", help="where downloads go (default: ROOT/archives)")
    s.add_argument("--keep-archives", action="store_true", help="keep archives after extraction")
    s.add_argument("--options", type=_options, default={}, help="JSON corpus options")
    s.add_argument("--retries", type=int, default=5, help="retries per archive (default 5)")
    s.add_argument("--retry-wait", type=float, default=2.0,
                   help="first retry wait in seconds, doubled each time (default 2)")
    s.add_argument("--timeout", type=float, default=60.0, help="socket timeout, seconds")
    s.set_defaults(func=cmd_download)

    s = subparsers.add_parser(
        "register", help="use an already-extracted copy of a real corpus (no download)",
        description="Check that ROOT holds an extracted CORPUS (its protocols parse) and write "
                    "OUT_DIR/.downloaded pointing at it.")
    s.add_argument("corpus", choices=names, metavar="CORPUS", help=", ".join(names))
    s.add_argument("--root", required=True, help="the extracted corpus")
    s.add_argument("--out-dir", required=True, help="<data_dir>/<corpus>: marker and manifests")
    s.add_argument("--options", type=_options, default={}, help="JSON corpus options")
    s.set_defaults(func=cmd_register)

    s = subparsers.add_parser(
        "prepare", help="write the Parquet manifests of a downloaded or registered corpus",
        description="Read the protocols of CORPUS, check every audio file, cross-check the known "
                    "counts and write OUT_DIR/<split>.parquet; prints a summary.")
    s.add_argument("corpus", choices=names, metavar="CORPUS", help=", ".join(names))
    s.add_argument("--out-dir", required=True, help="<data_dir>/<corpus>")
    s.add_argument("--root", help="the extracted corpus (default: as recorded by download/register)")
    s.add_argument("--strict", action="store_true",
                   help="a count that differs from the corpus' published counts is an error")
    s.add_argument("--options", type=_options, default=None,
                   help="JSON corpus options (default: as recorded by download/register)")
    s.set_defaults(func=cmd_prepare)
