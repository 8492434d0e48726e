"""A corpus run: segments → shards of per-token routing (Parquet), resumable.

Shard k holds segments [k·S, (k+1)·S) of the (deterministic) segment stream, written to a temporary name and
renamed, then recorded in manifest.json; a re-run skips the recorded shards, so a run killed at any point
resumes to the same output. The trace cache is bypassed (streaming work: every text is seen once).
"""
from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from core.corpus.rows import table
from core.corpus.sources import Segment, segments
from core.errors import InputError
from core.tracing.tracer import Tracer
from core.types import STACKS, Stack

MANIFEST = "manifest.json"
NEWER_FIELDS = {"causal", "predictions", "checkpoint", "fraction"}  # added for the field's studies (docs/corpus.md)
SHARD_SEGMENTS = 256


@dataclass
class CorpusSpec:
    """What a run routes and how; a resumed run must match it (manifest.json)."""

    model: str
    revision: str
    dtype: str
    source: str
    stacks: tuple[Stack, ...] = STACKS
    full_probs: bool = False
    max_tokens: int | None = None
    every: int = 1
    shard_segments: int = SHARD_SEGMENTS
    top_k: int = 1
    num_experts: int = 0
    causal: bool = False  # a decoder-only model: next-token studies apply
    predictions: bool = False  # rows carry the model's predicted next token
    checkpoint: str = ""  # the label of one checkpoint of a series ("" for the final model)
    fraction: float | None = None  # its fraction of training, where known
    done: list[int] = field(default_factory=list)  # finished shards
    tokens: dict[str, int] = field(default_factory=dict)  # shard → tokens routed

    @classmethod
    def for_tracer(cls, tracer: Tracer, source: str, stacks: tuple[Stack, ...] = STACKS, **options) -> CorpusSpec:
        """The spec of routing `source` through this tracer's model: its name, revision, precision, top-k and
        expert count; `stacks` it has (all of its own when none of them); `options`: full_probs, max_tokens, every,
        shard_segments."""
        loaded = tracer.loaded
        if _is_file(source):  # one spelling of a file wherever the command runs from (the manifest stores it relative)
            source = str(Path(source).expanduser().resolve())
        return cls(model=loaded.name, revision=loaded.revision, dtype=loaded.dtype, source=source,
                   stacks=tuple(s for s in stacks if s in tracer.routers) or tuple(tracer.routers),
                   top_k=loaded.top_k, num_experts=loaded.num_experts, causal=tracer.adapter.causal, **options)

    def key(self) -> dict:
        d = asdict(self)
        d.pop("done")
        d.pop("tokens")
        d["stacks"] = list(self.stacks)
        return d


def shard_path(out: Path, k: int) -> Path:
    return out / f"part-{k:05d}.parquet"


def read_manifest(out: Path) -> CorpusSpec | None:
    try:
        raw = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        raw["stacks"] = tuple(raw["stacks"])
        beside = out / raw["source"]
        if _is_file(raw["source"]) and not Path(raw["source"]).is_absolute() and beside.exists():
            raw["source"] = str(beside.resolve())  # stored relative to the run folder
        return CorpusSpec(**raw)
    except (KeyError, TypeError) as err:
        from core.errors import DataError

        raise DataError(f"{out.name}/{MANIFEST} is incomplete or damaged ({type(err).__name__}: "
                        f"{str(err).splitlines()[0][:120]}): route the corpus again into a new folder.") from None


def _is_file(source: str) -> bool:
    return not source.startswith(("nltk:", "hf:"))


def write_manifest(out: Path, spec: CorpusSpec) -> None:
    """The spec as JSON; a corpus file is named relative to the run folder, never by this machine's absolute path."""
    raw = asdict(spec)
    if _is_file(spec.source) and Path(spec.source).is_absolute():
        raw["source"] = os.path.relpath(spec.source, out.resolve())
    tmp = out / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    os.replace(tmp, out / MANIFEST)


def resume_or_start(out: Path, spec: CorpusSpec) -> CorpusSpec:
    """The manifest to continue: the folder's own when it is the same run, a fresh one for an empty folder."""
    out.mkdir(parents=True, exist_ok=True)
    old = read_manifest(out)
    if old is None:
        if any(out.glob("part-*.parquet")):
            raise InputError(f"{out.name}/ holds shards but no manifest: choose an empty --out folder.")
        write_manifest(out, spec)
        return spec
    recorded = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    adopted = NEWER_FIELDS - set(recorded)  # a run begun before these fields existed: they are the same run's
    for name in adopted:
        setattr(old, name, getattr(spec, name))
    if old.key() != spec.key():
        changed = [k for k, v in spec.key().items() if old.key().get(k) != v]
        raise InputError(f"{out.name}/ holds another corpus run (it differs in {', '.join(changed)}): choose another "
                         "--out folder, or repeat that run's options to resume it.")
    if adopted:
        write_manifest(out, old)  # so the studies read them even when no shard is left to route
    return old


def shards(spec: CorpusSpec, count_tokens: Callable[[list[str]], list[int]], data_root: Path | None = None
           ) -> Iterator[tuple[int, list[Segment]]]:
    """(k, segments of shard k), deterministic; `--max-tokens` cuts at the segment that reaches the budget."""
    stream = segments(spec.source, data_root, every=spec.every)
    budget = spec.max_tokens
    for k in itertools.count():
        batch = list(itertools.islice(stream, spec.shard_segments))
        if not batch:
            return
        if budget is not None:
            counts = list(itertools.accumulate(count_tokens([s.text for s in batch])))
            cut = next((i + 1 for i, c in enumerate(counts) if c >= budget), len(batch))
            batch, budget = batch[:cut], budget - counts[cut - 1]
        yield k, batch
        if budget is not None and budget <= 0:
            return


def route_shard(tracer: Tracer, batch: list[Segment], spec: CorpusSpec):
    """The routing rows of one shard's segments (an Arrow table)."""
    texts = [s.text for s in batch]
    traces = tracer.trace(texts, stacks=spec.stacks)
    ids = [e.ids[:len(t.tokens)] for e, t in zip(tracer.encode_many(texts), traces)]
    predicted = None
    if spec.predictions:
        from core.tracing.predictions import next_token_predictions

        predicted = next_token_predictions(tracer.loaded, ids)
    return table(traces, batch, ids, spec.top_k, tracer.adapter.capacity is not None, spec.full_probs, predicted)


def write_shard(out: Path, k: int, rows) -> None:
    tmp = out / f".part-{k:05d}.tmp"
    pq.write_table(rows, tmp, compression="zstd")
    os.replace(tmp, shard_path(out, k))


def run_local(tracer: Tracer, spec: CorpusSpec, out: Path, data_root: Path | None = None,
              progress: Callable[[int], None] | None = None) -> CorpusSpec:
    """Route every shard not yet done, one process."""
    spec = resume_or_start(out, spec)
    for k, batch in shards(spec, token_counter(tracer), data_root):
        if k in spec.done:
            continue
        rows = route_shard(tracer, batch, spec)
        write_shard(out, k, rows)
        finish(out, spec, k, rows, progress)
    return spec


def finish(out: Path, spec: CorpusSpec, k: int, rows, progress: Callable[[int], None] | None) -> None:
    n_tokens = int(rows.num_rows // max(1, _layers_per_token(rows)))
    spec.done.append(k)
    spec.tokens[str(k)] = n_tokens
    write_manifest(out, spec)
    if progress:
        progress(n_tokens)


def _layers_per_token(rows) -> int:
    """Rows per token: the sparse layers of every traced stack (first segment's count)."""
    import pyarrow.compute as pc

    if rows.num_rows == 0:
        return 1
    first = rows.filter(pc.equal(rows.column("doc"), rows.column("doc")[0]))
    return max(1, first.num_rows // max(1, len(set(first.column("position").to_pylist()))))


def token_counter(tracer: Tracer) -> Callable[[list[str]], list[int]]:
    return lambda texts: [len(e.ids) for e in tracer.encode_many(texts)]


def shard_files(out: Path) -> Iterable[Path]:
    return sorted(out.glob("part-*.parquet"))
