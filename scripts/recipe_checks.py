"""The small measurements behind docs/detector.md's recipe notes.

``pairs``: how often RACL's bona fide anchors get a positive under the grouped shuffle and
under ``bonafide_batches``, on ASVspoof 2019 LA train's layout (2 580 bona fide, 22 800
spoof, one reconstruction of every clip, batch 14)::

    PYTHONPATH=src python scripts/recipe_checks.py pairs

``layer-scale``: standard deviation and peak of each front-end layer the ``sls`` model reads
(raw residual stream) against the ``last`` model's normed output, on the first clips of a
manifest::

    PYTHONPATH=src python scripts/recipe_checks.py layer-scale data/mini/train.parquet
"""

from __future__ import annotations

import argparse

import numpy as np


def pairs(n_bona: int, n_spoof: int, reconstructions: int, batch_size: int, seed: int) -> None:
    """Print the batch statistics of both samplers for one epoch."""
    from reconfake.detector.data import batch_pair_stats, bonafide_batches, group_batches

    groups, labels = [], []
    for kind, count, label in (("b", n_bona, 1), ("s", n_spoof, 0)):
        for i in range(count):
            groups += [f"{kind}{i}"] * (1 + reconstructions)
            labels += [label] + [0] * reconstructions
    for name, batches in (
            ("grouped shuffle", group_batches(groups, batch_size, np.random.default_rng(seed))),
            ("bonafide_per_batch 2", bonafide_batches(groups, labels, batch_size,
                                                      np.random.default_rng(seed), 2))):
        stats = batch_pair_stats(batches, labels)
        print(f"{name}: {len(batches)} batches, {sum(map(len, batches))} clips, "
              f"pair_batches {100 * stats['pair_batches']:.1f} %, anchors_with_positive "
              f"{100 * stats['anchors_with_positive']:.1f} %, bonafide_views "
              f"{stats['bonafide_views']:.2f}")


def layer_scale(manifest: str, frontend: str, clips: int, samples: int) -> None:
    """Print std and max |x| per layer: sls (raw) and last (normed)."""
    import torch

    from reconfake.detector.data import AudioStore, fixed_crop, items_from_manifest, stack
    from reconfake.detector.ssl_aasist import SSLAASIST

    torch.set_num_threads(1)
    store = AudioStore()
    wave = stack([fixed_crop(store.load(it), samples)
                  for it in items_from_manifest(manifest)[:clips]])
    for mode in ("sls", "last"):
        feats = SSLAASIST(frontend=frontend, aggregation=mode).layer_features(wave)
        for k in range(feats.shape[1]):
            layer = feats[:, k]
            print(f"{mode}: layer {k + 1}/{feats.shape[1]} std {float(layer.std()):.2f} "
                  f"max|x| {float(layer.abs().max()):.1f}")


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("pairs")
    s.add_argument("--bonafide", type=int, default=2580)
    s.add_argument("--spoof", type=int, default=22800)
    s.add_argument("--reconstructions", type=int, default=1)
    s.add_argument("--batch-size", type=int, default=14)
    s.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("layer-scale")
    s.add_argument("manifest")
    s.add_argument("--frontend", default="whisper-tiny.en")
    s.add_argument("--clips", type=int, default=4)
    s.add_argument("--samples", type=int, default=64600)
    args = p.parse_args(argv)
    if args.command == "pairs":
        pairs(args.bonafide, args.spoof, args.reconstructions, args.batch_size, args.seed)
    else:
        layer_scale(args.manifest, args.frontend, args.clips, args.samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
