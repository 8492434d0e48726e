"""The Ray Data engine of a corpus run: each shard's segments → `map_batches` over an actor pool (one model per
actor, `threads` CPU threads each, or one GPU each) → `write_parquet`, on a local Ray or a cluster (`address`).

Same shards, same manifest and same rows as the local engine (the tests compare them row for row); only the file
layout differs: shard k is a folder `part-0000k/` of Ray's Parquet files, renamed into place when complete.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.corpus.run import CorpusSpec, finish, resume_or_start, shards
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
                            experts_kernel=model.experts_kernel)
        self.tracer = Tracer(loaded, cache=None)
        self.spec = spec

    def __call__(self, batch):
        from core.corpus.run import route_shard

        segments = [Segment(int(d), str(s), str(m), str(t)) for d, s, m, t in
                    zip(batch["doc"], batch["source"], batch["domain"], batch["text"])]
        return route_shard(self.tracer, segments, self.spec)


def run_ray(model: ModelArgs, spec: CorpusSpec, out: Path, count_tokens: Callable[[list[str]], list[int]],
            actors: int = 2, threads: int = 1, gpus_per_actor: float = 0, address: str | None = None,
            batch_segments: int = 64, data_root: Path | None = None,
            progress: Callable[[int], None] | None = None) -> CorpusSpec:
    try:
        import ray
    except ImportError:
        raise InputError("--engine ray needs Ray: pip install 'ray[data]' (or use --engine local).") from None
    if actors < 1 or threads < 1:
        raise InputError("--actors and --threads must be 1 or more.")
    spec = resume_or_start(out, spec)
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
                 **({} if address else {"num_cpus": max(actors * threads, os.cpu_count() or 1)}))
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    for k, batch in shards(spec, count_tokens, data_root):
        if k in spec.done:
            continue
        items = [{"doc": s.doc, "source": s.source, "domain": s.domain, "text": s.text} for s in batch]
        routed = ray.data.from_items(items).map_batches(
            _RouteActor, fn_constructor_kwargs={"model": model, "spec": spec, "threads": threads},
            batch_size=batch_segments, batch_format="pyarrow", concurrency=actors,
            num_cpus=threads, num_gpus=gpus_per_actor or None)
        folder = out / f"part-{k:05d}"
        tmp = out / f".part-{k:05d}.ray"
        shutil.rmtree(tmp, ignore_errors=True)
        routed.write_parquet(str(tmp), compression="zstd")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        import pyarrow.dataset as pads

        finish(out, spec, k, pads.dataset(str(folder)).to_table(columns=["doc", "position"]), progress)
    return spec
