"""The ``download``, ``register`` and ``prepare`` subcommands of ``reconfake`` for real corpora.

``reconfake.cli`` calls :func:`add_subcommands` on its subparsers; each command is a thin
wrapper over :mod:`reconfake.corpora.download` and :mod:`reconfake.corpora.registry`.
"""

from __future__ import annotations

import argparse

from reconfake.cli_json import json_object


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


def _corpus_command(subparsers: argparse._SubParsersAction, name: str, func, help_text: str,
                    description: str) -> argparse.ArgumentParser:
    """Subcommand ``name`` with its CORPUS argument (one of the registry's names), running ``func``."""
    from reconfake.corpora.registry import corpus_names

    names = corpus_names()
    s = subparsers.add_parser(name, help=help_text, description=description)
    s.add_argument("corpus", choices=names, metavar="CORPUS", help=", ".join(names))
    s.set_defaults(func=func)
    return s


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``download``, ``register`` and ``prepare`` to the ``reconfake`` parser."""
    s = _corpus_command(
        subparsers, "download", cmd_download, "download, verify and extract a real corpus (resumable)",
        "Fetch every archive of CORPUS from its official URL or a mirror, check size and published "
        "checksum, extract safely, and write OUT_DIR/.downloaded.")
    s.add_argument("--out-dir", required=True, help="<data_dir>/<corpus>: marker and manifests")
    s.add_argument("--root", help="where to extract the corpus (default: --out-dir)")
    s.add_argument("--mirror", help="base URL (http, https, file) or folder holding the official "
                                    "archive names")
    s.add_argument("--archives-dir", help="where downloads go (default: ROOT/archives)")
    s.add_argument("--keep-archives", action="store_true", help="keep archives after extraction")
    s.add_argument("--options", type=json_object, default={}, help="JSON corpus options")
    s.add_argument("--retries", type=int, default=5, help="retries per archive (default 5)")
    s.add_argument("--retry-wait", type=float, default=2.0,
                   help="first retry wait in seconds, doubled each time (default 2)")
    s.add_argument("--timeout", type=float, default=60.0, help="socket timeout, seconds")

    s = _corpus_command(
        subparsers, "register", cmd_register, "use an already-extracted copy of a real corpus (no download)",
        "Check that ROOT holds an extracted CORPUS (its protocols parse) and write OUT_DIR/.downloaded "
        "pointing at it.")
    s.add_argument("--root", required=True, help="the extracted corpus")
    s.add_argument("--out-dir", required=True, help="<data_dir>/<corpus>: marker and manifests")
    s.add_argument("--options", type=json_object, default={}, help="JSON corpus options")

    s = _corpus_command(
        subparsers, "prepare", cmd_prepare,
        "write the Parquet manifests of a downloaded or registered corpus",
        "Read the protocols of CORPUS, check every audio file, cross-check the known counts and write "
        "OUT_DIR/<split>.parquet; prints a summary.")
    s.add_argument("--out-dir", required=True, help="<data_dir>/<corpus>")
    s.add_argument("--root", help="the extracted corpus (default: as recorded by download/register)")
    s.add_argument("--strict", action="store_true",
                   help="a count that differs from the corpus' published counts is an error")
    s.add_argument("--options", type=json_object, default=None,
                   help="JSON corpus options (default: as recorded by download/register)")


# ----------------------------------------------------------------------------- corpus mini


def cmd_mini_packages(args: argparse.Namespace) -> int:
    from reconfake.corpora.mini import unpack_all

    unpack_all(args.root, args.packages_dir)
    return 0


def cmd_mini_transcripts(args: argparse.Namespace) -> int:
    from reconfake.corpora.mini import MiniSpec, transcribe_prompts

    transcribe_prompts(MiniSpec.from_dict(args.spec), args.root, args.out, args.batch_size)
    return 0


def cmd_mini_corpus(args: argparse.Namespace) -> int:
    from reconfake.corpora.mini import MiniSpec, build_split

    build_split(args.split, MiniSpec.from_dict(args.spec), args.packages, args.out_dir,
                args.transcripts)
    return 0


def add_mini_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mini-packages``, ``mini-transcripts`` and ``mini-corpus`` (corpus ``mini``)."""
    s = subparsers.add_parser(
        "mini-packages", help="fetch, verify and unpack the Debian packages of corpus mini",
        description="Fetch every pinned .deb of corpus mini (from --packages-dir, apt-get "
                    "download or a Debian mirror), check size and SHA-256, unpack each into "
                    "ROOT/<package>/ and write ROOT/.done.")
    s.add_argument("--root", required=True, help="where the packages are unpacked")
    s.add_argument("--packages-dir", help="folder or URL holding the .deb files")
    s.set_defaults(func=cmd_mini_packages)

    s = subparsers.add_parser(
        "mini-transcripts", help="transcribe the Asterisk prompts that corpus mini deals",
        description="Deal the recordings (independent of any transcript) and write the texts "
                    "of the dealt Asterisk prompts, official or by Whisper, to a TSV.")
    s.add_argument("--root", required=True, help="the unpacked packages (mini-packages --root)")
    s.add_argument("--spec", type=json_object, required=True, help="JSON: the corpora.mini config")
    s.add_argument("--out", required=True, help="TSV to write (file, text)")
    s.add_argument("--batch-size", type=int, default=8, help="Whisper batch size")
    s.set_defaults(func=cmd_mini_transcripts)

    s = subparsers.add_parser(
        "mini-corpus", help="build one split of corpus mini (bona fide + TTS spoofs)",
        description="Write OUT_DIR/<split>/*.flac and OUT_DIR/<split>.parquet: the split's "
                    "recordings and, for each, a TTS system speaking the same text.")
    s.add_argument("--split", required=True)
    s.add_argument("--spec", type=json_object, required=True, help="JSON: the corpora.mini config")
    s.add_argument("--packages", required=True, help="the unpacked packages")
    s.add_argument("--transcripts", help="TSV from mini-transcripts (needed for allison)")
    s.add_argument("--out-dir", required=True)
    s.set_defaults(func=cmd_mini_corpus)
