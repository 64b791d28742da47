"""The ``reconfake`` command line: every workflow step is a subcommand, so each runs without
Snakemake too. ``reconfake --help`` lists them."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from reconfake.cli_json import json_object

log = logging.getLogger("reconfake")


def cmd_demo_corpus(args: argparse.Namespace) -> int:
    from reconfake.corpora.demo import SplitSpec, build_split

    build_split(args.split, SplitSpec(**args.spec), args.out_dir)
    return 0


def cmd_backends(args: argparse.Namespace) -> int:
    from reconfake.paradigms.registry import available_backends

    for name, cls in available_backends().items():
        extra = " (fitted in the workflow)" if cls.trainable else ""
        if cls.stand_in_for:
            extra += f" [offline stand-in for {cls.stand_in_for}]"
        print(f"{name:16s} {cls.paradigm:10s} options: {json.dumps(cls.defaults)}{extra}")
    return 0


def cmd_fit_backend(args: argparse.Namespace) -> int:
    from reconfake.audio import load_audio
    from reconfake.manifest import read_manifest
    from reconfake.paradigms.registry import backend_class

    cls = backend_class(args.backend)
    rows = [r for r in read_manifest(args.manifest) if r.label == "bonafide"]
    clips = [load_audio(r.path, sample_rate=cls.sample_rate, name=f"{r.path} ({r.utt_id})")[0]
             for r in rows]
    log.info("fitting %s on %d bona fide clips", args.backend, len(clips))
    cls.fit(clips, Path(args.out), **args.options)
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from reconfake.reconstruct import reconstruct_shard

    options = {**args.options, **args.run_options}
    reconstruct_shard(args.manifest, args.backend, args.out, options, args.shard,
                      args.num_shards, args.sample_rate, args.bad_audio, args.device,
                      tuple(args.labels))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from reconfake.train import train_detector

    options = dict(args.options)
    # Execution settings come as flags (the workflow keeps them out of its rerun triggers).
    if args.threads:
        options["threads"] = args.threads
    if args.device:
        options["device"] = args.device
    if options.get("feature_cache") is True:  # the workflow's options say only *whether*
        if not args.feature_cache:
            raise ValueError("training option feature_cache: true needs --feature-cache DIR")
        options["feature_cache"] = args.feature_cache
    elif options.get("feature_cache") is False:
        options["feature_cache"] = None
    elif args.feature_cache:
        options["feature_cache"] = args.feature_cache
    train_detector(args.train, args.dev, args.out_dir, args.shards, args.architecture,
                   args.arch_options, options)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from reconfake.score import score_inputs

    result = score_inputs(args.checkpoint, args.inputs, args.output, args.architecture,
                          args.eval_samples, args.batch_size, corpus=args.corpus,
                          device=args.device, feature_cache=args.feature_cache,
                          arch_options=args.arch_options)
    log.info("scored %d clips -> %s", result.rows, args.output)
    if result.failures:
        print(f"{len(result.failures)} clip(s) could not be scored:", file=sys.stderr)
        for name, reason in result.failures:
            print(f"  {name}: {reason}", file=sys.stderr)
        return 1
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from reconfake.evaluate import evaluate_file

    result = evaluate_file(args.scores, args.asv_scores)
    tdcf = {} if result.min_tdcf is None else {"min_tdcf": result.min_tdcf}
    if args.json:
        print(json.dumps({"eer_percent": result.eer_percent, "threshold": result.threshold,
                          "n_bonafide": result.n_bonafide, "n_spoof": result.n_spoof,
                          "per_attack_eer_percent": result.per_attack, **tdcf}))
    else:
        print(f"{args.scores}: EER {result.eer_percent:.3f} % "
              f"({result.n_bonafide} bona fide, {result.n_spoof} spoof; "
              f"threshold {result.threshold:.4f})")
        if tdcf:
            print(f"  min t-DCF {result.min_tdcf:.4f} (ASVspoof 2019 cost model)")
        for attack, eer in result.per_attack.items():
            print(f"  {attack:24s} EER {eer:.3f} %")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from reconfake.report import write_report

    paths = write_report(args.scores, args.out_dir, args.models, args.eval_sets,
                         args.paradigms, args.note, args.reported, args.reported_label,
                         layer_weights=args.layer_weights,
                         benchmarks=args.benchmark_files if args.benchmark_files else args.benchmarks,
                         seed_groups=args.seed_groups or None)
    print(Path(paths["table_md"]).read_text())
    return 0


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"{flag} {value!r}: expected BACKEND=PATH")
        pairs[name] = path
    return pairs


def cmd_hardness(args: argparse.Namespace) -> int:
    from reconfake.hardness import write_hardness

    paths = write_hardness(args.dev, _pairs(args.reconstructions, "--reconstructions"),
                           args.out_dir, args.paradigms, _pairs(args.shards, "--shards"),
                           args.note)
    print(Path(paths["md"]).read_text())
    return 0


def cmd_study_info(args: argparse.Namespace) -> int:
    import yaml

    from reconfake.fileio import write_text_atomic
    from reconfake.shards import package_versions

    info = {"config": args.config, "packages": package_versions(),
            "python": sys.version.split()[0]}
    write_text_atomic(args.out, yaml.safe_dump(info, sort_keys=False))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from reconfake.inspect import extract_clip, summarize

    print(summarize(args.path))
    if args.extract:
        out = extract_clip(args.path, args.extract, args.out or f"{args.extract}.wav")
        print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    p = argparse.ArgumentParser(prog="reconfake", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: torch's choice)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("demo-corpus", help="synthesise one split of the stand-in demo corpus")
    s.add_argument("--split", required=True)
    s.add_argument("--spec", type=json_object, required=True, help="JSON: bonafide, spoof, attacks, ...")
    s.add_argument("--out-dir", required=True)
    s.set_defaults(func=cmd_demo_corpus)

    from reconfake.corpora.cli import add_mini_subcommands
    from reconfake.corpora.cli import add_subcommands as add_corpus_subcommands

    add_corpus_subcommands(sub)  # download, register, prepare
    add_mini_subcommands(sub)  # mini-packages, mini-transcripts, mini-corpus

    s = sub.add_parser("backends", help="list reconstruction backends and their options")
    s.set_defaults(func=cmd_backends)

    s = sub.add_parser("fit-backend", help="fit a trainable backend on bona fide clips")
    s.add_argument("--backend", required=True)
    s.add_argument("--manifest", required=True)
    s.add_argument("--out", required=True, help="model folder to write")
    s.add_argument("--options", type=json_object, default={})
    s.set_defaults(func=cmd_fit_backend)

    s = sub.add_parser("reconstruct", help="build one hard-sample shard")
    s.add_argument("--manifest", required=True)
    s.add_argument("--backend", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--options", type=json_object, default={})
    s.add_argument("--shard", type=int, default=0)
    s.add_argument("--num-shards", type=int, default=1)
    s.add_argument("--sample-rate", type=int, default=16000)
    s.add_argument("--bad-audio", choices=("error", "skip"), default="error")
    s.add_argument("--device", default="cpu")
    s.add_argument("--run-options", type=json_object, default={},
                   help="JSON backend options that change speed, not output (batch sizes, "
                        "threads); merged over --options")
    s.add_argument("--labels", nargs="+", choices=("bonafide", "spoof"),
                   default=["bonafide", "spoof"], help="which source clips to reconstruct")
    s.set_defaults(func=cmd_reconstruct)

    s = sub.add_parser("train", help="train a detector")
    s.add_argument("--train", required=True, help="train manifest")
    s.add_argument("--dev", required=True, help="dev manifest (early stopping)")
    s.add_argument("--shards", nargs="*", default=[], help="hard-sample shards to add")
    s.add_argument("--out-dir", required=True)
    s.add_argument("--architecture", default="mel_cnn")
    s.add_argument("--arch-options", type=json_object, default={})
    s.add_argument("--options", type=json_object, default={}, help="JSON training options")
    s.add_argument("--device", help="overrides the options' device: auto, cpu, cuda or cuda:N")
    s.add_argument("--feature-cache", metavar="DIR",
                   help="feature-cache folder (used when the options' feature_cache is true or "
                        "absent)")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("score", help="score audio with a checkpoint")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--architecture", help="needed for bare state dicts (e.g. aasist, "
                   "ssl_aasist for SSL-AASIST's released LA_model.pth)")
    s.add_argument("--arch-options", type=json_object, default=None, metavar="JSON",
                   help="architecture options of a bare state dict, e.g. "
                        "'{\"frontend_config\": {\"num_attention_heads\": 16}}' for a released "
                        "SSL-AASIST model; reconfake checkpoints carry their own")
    s.add_argument("--output", required=True)
    s.add_argument("--eval-samples", type=int, default=64600)
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--corpus", help="value of a corpus column to add")
    s.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    s.add_argument("--feature-cache", metavar="DIR",
                   help="reuse/store frozen front-end features here (ssl_aasist; shared by "
                        "models with the same front-end)")
    s.add_argument("inputs", nargs="+",
                   help="audio files, folders, manifests, shards or CSV lists (path,label[,utt_id,"
                        "attack]); an audio file's trial id is "
                        "its path relative to the inputs' common folder, without extension")
    s.set_defaults(func=cmd_score)

    s = sub.add_parser("evaluate", help="EER of a score file")
    s.add_argument("scores")
    s.add_argument("--json", action="store_true")
    s.add_argument("--asv-scores", metavar="FILE",
                   help="ASV scores ('speaker utt key score', key target|nontarget|spoof) "
                        "to add min t-DCF (ASVspoof 2019 cost model)")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("report", help="results table and plots")
    s.add_argument("--scores", nargs="+", required=True, help="<model>/<eval_set>.csv files")
    s.add_argument("--models", nargs="+", required=True, help="row order")
    s.add_argument("--eval-sets", nargs="+", required=True, help="column order")
    s.add_argument("--paradigms", type=json_object, default={}, help="JSON model -> paradigm")
    s.add_argument("--seed-groups", type=json_object, default={},
                   help="JSON model -> [[seed, model name], ...]: its runs with other training "
                        "seeds, for the seeds table (default: each model alone)")
    s.add_argument("--note", default="", help="banner (e.g. stand-in warning)")
    s.add_argument("--reported", type=json_object, default={},
                   help="JSON eval_set -> EER%% reported by the paper (shown as its own row)")
    s.add_argument("--reported-label", default="paper (reported)")
    s.add_argument("--benchmarks", help="folder of Snakemake benchmark files to summarise")
    s.add_argument("--benchmark-files", nargs="*", default=[], metavar="TSV",
                   help="Snakemake benchmark files (.../benchmarks/<stage>/<job>.tsv) to "
                        "summarise, instead of a folder")
    s.add_argument("--layer-weights", nargs="*", default=[], metavar="JSON",
                   help="<model>/layer_weights.json files; missing ones are skipped (models "
                        "without learned layer weights)")
    s.add_argument("--out-dir", required=True)
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("hardness", help="how hard each backend's reconstructions are for the "
                                        "baseline (table + score histograms)")
    s.add_argument("--dev", required=True, help="the baseline's scores of the dev split")
    s.add_argument("--reconstructions", nargs="+", required=True, metavar="BACKEND=CSV",
                   help="the baseline's scores of each backend's dev bona fide reconstructions")
    s.add_argument("--shards", nargs="*", default=[], metavar="BACKEND=PARQUET",
                   help="the reconstruction shards (for log-mel distances)")
    s.add_argument("--paradigms", type=json_object, default={}, help="JSON backend -> paradigm")
    s.add_argument("--note", default="")
    s.add_argument("--out-dir", required=True)
    s.set_defaults(func=cmd_hardness)

    s = sub.add_parser("study-info", help="write the config and package versions of a run")
    s.add_argument("--config", type=json_object, required=True, help="the run's config as JSON")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_study_info)

    s = sub.add_parser("inspect", help="summarise a manifest or shard; extract a clip")
    s.add_argument("path")
    s.add_argument("--extract", metavar="UTT_ID", help="write this clip to a WAV")
    s.add_argument("--out", help="WAV path for --extract")
    s.set_defaults(func=cmd_inspect)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``reconfake`` command."""
    from reconfake.progress import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as exc:
        log.error("%s", exc)
        if args.verbose:
            raise
        return 2


if __name__ == "__main__":
    sys.exit(main())
