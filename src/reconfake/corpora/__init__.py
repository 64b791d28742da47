"""Corpora: one module per corpus (its spec and protocol reader); :mod:`.spec` writes the Parquet
manifests of them all."""
