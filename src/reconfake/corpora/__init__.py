"""Corpora: one module per corpus, each with a prepare step writing Parquet manifests."""
