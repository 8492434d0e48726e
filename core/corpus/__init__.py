"""Corpus-scale routing: documents → per-token routing as Parquet shards → statistics of what experts receive."""
