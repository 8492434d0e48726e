"""The Ray Data engine of a corpus run: the pending shards' segments → `map_batches` over an actor pool (one model
per actor, `threads` CPU threads each, or one GPU each), on a local Ray or a cluster (`address`).

The driver streams the routed batches and writes each shard when complete, through the same writer and manifest as
the local engine: the same files, row for row (the tests compare them), and the same resume after a kill. Ray's
`write_parquet` is not used: it commits a dataset at its end, not shard by shard.
"""
from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from core.corpus.rows import schema
from core.corpus.run import CorpusSpec, finish, resume_or_start, shards, write_shard
from core.corpus.sources import Segment
from core.errors import InputError


@dataclass(frozen=True)
class ModelArgs:
    """How each actor loads its own copy of the model."""

    name: str
    revision: str | None = None
    dtype: str | None = None
    device: str | None = None
    experts_kernel: str = "auto"


class _RouteActor:
    """One model per actor; routes a batch of segments to rows."""

    def __init__(self, model: ModelArgs, spec: CorpusSpec, threads: int) -> None:
        import torch

        from core.models.loading import load_model
        from core.tracing.tracer import Tracer

        torch.set_num_threads(threads)
        loaded = load_model(model.name, revision=model.revision, dtype=model.dtype, device=model.device,
                            experts_kernel=model.experts_kernel, lm_head=spec.predictions)  # predictions need the head
        self.tracer = Tracer(loaded, cache=None)
        self.spec = spec

    def __call__(self, batch):
        from core.corpus.run import route_shard

        segments = [Segment(int(d), str(s), str(m), str(t)) for d, s, m, t in
                    zip(batch["doc"], batch["source"], batch["domain"], batch["text"])]
        return route_shard(self.tracer, segments, self.spec)


def run_ray(model: ModelArgs, spec: CorpusSpec, out: Path, count_tokens: Callable[[list[str]], list[int]],
            actors: int = 2, threads: int = 1, gpus_per_actor: float = 0, address: str | None = None,
            batch_segments: int = 32, data_root: Path | None = None,
            progress: Callable[[int], None] | None = None) -> CorpusSpec:
    """Every pending shard through one Ray Data pipeline (the actors load the model once); the driver streams the
    routed batches (`iter_batches`) and writes each shard as soon as all its segments are in, then records it."""
    try:
        import ray
    except ImportError:
        raise InputError("--engine ray needs Ray: pip install 'ray[data]' (or use --engine local).") from None
    if actors < 1 or threads < 1:
        raise InputError("--actors and --threads must be 1 or more.")
    spec = resume_or_start(out, spec)
    pending = [(k, batch) for k, batch in shards(spec, count_tokens, data_root) if k not in spec.done]
    if not pending:
        return spec
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
                 **({} if address else {"num_cpus": max(actors * threads, os.cpu_count() or 1)}))
    ray.data.DataContext.get_current().enable_progress_bars = False
    items = [{"doc": s.doc, "source": s.source, "domain": s.domain, "text": s.text} for _, batch in pending
             for s in batch]
    routed = ray.data.from_items(items).map_batches(
        _RouteActor, fn_constructor_kwargs={"model": model, "spec": spec, "threads": threads},
        batch_size=batch_segments, batch_format="pyarrow", concurrency=actors, num_cpus=threads,
        num_gpus=gpus_per_actor or None)
    shard_of = {s.doc: k for k, batch in pending for s in batch}
    missing = {k: {s.doc for s in batch} for k, batch in pending}
    parts: dict[int, list[pa.Table]] = defaultdict(list)
    for rows in routed.iter_batches(batch_format="pyarrow", batch_size=None):
        docs = rows.column("doc").to_numpy()
        for k in sorted({shard_of[int(d)] for d in np.unique(docs)}):
            mine = np.isin(docs, [d for d in np.unique(docs) if shard_of[int(d)] == k])
            part = rows.filter(pa.array(mine))
            parts[k].append(part)
            missing[k] -= set(np.unique(part.column("doc").to_numpy()).tolist())
            if not missing[k]:  # every segment of shard k is in: the local engine's order, then write and record
                table = pa.concat_tables(parts.pop(k))
                order = np.argsort(table.column("doc").to_numpy(), kind="stable")
                table = table.take(pa.array(order)).cast(schema(spec.top_k, spec.full_probs))
                write_shard(out, k, table)
                finish(out, spec, k, table, progress)
    return spec
