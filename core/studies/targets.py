"""What the analyses read from a trace: a target (a span, a whitespace word, or the whole text), routed in chunks so
memory stays flat, with the dropped-token counter and the progress protocol the runs share."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.tracing.routing_trace import RoutingTrace
from core.tracing.tracer import Tracer
from core.tracing.words import word_spans
from core.types import DecoderRead, Stack

CHUNK = 256  # texts traced (and dropped from memory) at a time

ProgressFactory = Callable[[str, int], Callable[[int], None]]  # (description, total) -> advance(n)


@dataclass(frozen=True)
class Target:
    """The routing to read from one text: a character span, a whitespace-word index, or the whole text."""

    text: str
    start: int | None = None
    end: int | None = None
    word_index: int | None = None


def no_progress(_desc: str, _total: int) -> Callable[[int], None]:
    return lambda _n: None


class DropCounter:
    """Dropped token-layer slots (over expert capacity) per (text set, stack, sparse layer), over every distinct
    text traced: how much of what the analyses read was routed but never processed by its expert."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, Stack, int, int], list[int]] = {}

    def add(self, texts: str, trace: RoutingTrace) -> None:
        """Counts the traced tokens (a causal stack traced up to the target has NaN rows after it: not counted)."""
        for stack, s in trace.stacks.items():
            traced = ~np.isnan(s.token_probs[..., 0])
            for li, block in enumerate(s.layers):
                c = self.counts.setdefault((texts, stack, li, int(block)), [0, 0])
                c[0] += int(s.dropped[li].sum())
                c[1] += int(traced[li].sum())

    def frame(self, meta: dict) -> pd.DataFrame:
        return pd.DataFrame([{**meta, "texts": texts, "stack": stack, "layer_pos": li, "layer": block,
                              "dropped": d, "tokens": n, "share": d / n if n else np.nan}
                             for (texts, stack, li, block), (d, n) in self.counts.items()])


def route_targets(tracer: Tracer, targets: Sequence[Target], stacks: Sequence[Stack], label: str,
                  progress: ProgressFactory = no_progress, drops: DropCounter | None = None,
                  decoder_read: DecoderRead = "input", inputs: dict[str, list] | None = None) -> dict[str, np.ndarray]:
    """(N, L, E) routing of each target per stack; texts traced once each, in chunks so memory stays flat.
    `label` names the set of texts (progress bar, and `drops`, which counts the dropped slots of every text).
    `inputs` (a tracer capturing router inputs): filled per stack with each target's (L, tokens, d) router inputs,
    the tokens its routing is pooled over."""
    by_text: dict[str, list[int]] = {}
    for i, t in enumerate(targets):
        by_text.setdefault(t.text, []).append(i)
    texts = list(by_text)
    until = {text: _read_until([targets[i] for i in idx]) for text, idx in by_text.items()}
    out: dict[str, np.ndarray] = {}
    advance = progress(f"{tracer.loaded.name}: {label}", len(texts))
    for c in range(0, len(texts), CHUNK):
        chunk = texts[c : c + CHUNK]
        traces = tracer.trace(chunk, stacks=stacks, decoder_read=decoder_read, until=[until[t] for t in chunk])
        for text, trace in zip(chunk, traces):
            if drops is not None:
                drops.add(label, trace)
            for stack in trace.stacks:
                for i in by_text[text]:
                    t = targets[i]
                    if t.word_index is not None:
                        vec = trace.word_probs_at(stack, t.word_index)
                    else:
                        start = 0 if t.start is None else t.start
                        end = len(text) if t.end is None else t.end
                        vec = trace.span_probs(stack, start, end)
                    if stack not in out:
                        out[stack] = np.full((len(targets), *vec.shape), np.nan, dtype=np.float32)
                    out[stack][i] = vec
                    if inputs is not None and trace.router_inputs:
                        tokens = trace.target_tokens(t.word_index, t.start, t.end)
                        inputs.setdefault(stack, [None] * len(targets))[i] = trace.router_inputs[stack][:, tokens]
        advance(len(chunk))
    return out


def _read_until(targets: Sequence[Target]) -> int | None:
    """The character after which none of a text's targets reads (None: the whole text), for `Tracer.trace`'s `until`:
    a causal stack need not be traced past it. An out-of-range word index reads it all (and the read says so)."""
    ends = [int(word_spans(t.text)[t.word_index][1]) if t.word_index is not None
            and 0 <= t.word_index < len(word_spans(t.text)) else (None if t.word_index is not None else t.end)
            for t in targets]
    return None if not ends or None in ends else max(ends)


