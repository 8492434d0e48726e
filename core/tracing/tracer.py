"""Batched tracing of router probabilities with forward hooks on the router modules.

Why hooks: they see exactly what each router computed, in every transformers version (the
`encoder_router_logits` output field is wrong in 5.0–5.17, docs/definitions.md), and they let us skip the LM
head and, when only the encoder is asked for, the whole decoder.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence

import numpy as np
import torch

from core.errors import InputError
from core.models.adapters import Captured
from core.models.loading import LoadedModel
from core.settings import MAX_TOKENS
from core.tracing.cache import TraceCache, trace_key
from core.tracing.encoding import Encoded, encode_texts, length_buckets, right_padded
from core.tracing.routing_trace import RoutingTrace
from core.tracing.stack_routing import prefix_tokens, rows_per_text, stack_routing, text_rows
from core.tracing.words import pooling_matrix
from core.types import STACKS, DecoderRead, Stack

DEFAULT_BATCH_TOKENS = 4096  # padded tokens per forward pass (bf16 GEMMs on CPU slow down past a few thousand rows)
DEFAULT_BATCH_SIZE = 64

Progress = Callable[[int, int], None]


class _LastRouterDone(Exception):  # noqa: N818 - a signal, not an error
    """Raised by the last router's hook: nothing after it is needed (its experts, later blocks), so the pass stops."""


class Tracer:
    """Traces texts through a loaded MoE model (any adapter family); thread-safe (one forward pass at a time)."""

    def __init__(self, loaded: LoadedModel, cache: TraceCache | None = None, max_tokens: int = MAX_TOKENS,
                 batch_tokens: int = DEFAULT_BATCH_TOKENS, batch_size: int = DEFAULT_BATCH_SIZE, capacity: bool = True,
                 stop_early: bool = True, capture_inputs: bool = False, chosen_weights: bool = False,
                 softmax_logits: bool = False) -> None:
        """`capacity=False` traces with every expert's capacity lifted (nothing dropped; adapters without a capacity
        are unaffected): the "capacity off" alternative of the sensitivity table, cached under its own key.
        `capture_inputs=True` also keeps each router's input hidden state per token (`RoutingTrace.router_inputs`;
        the controls of `reproduce --controls`); opt-in, since it is d_model floats per token and layer, and such
        traces bypass the cache. The routing itself is the same either way."""
        self.loaded = loaded
        self.capture_inputs = capture_inputs
        self._inputs: dict[tuple[Stack, int], torch.Tensor] = {}
        self.capacity = capacity
        self.stop_early = stop_early  # stop each pass at the last router it reads (see _LastRouterDone)
        self.chosen_weights = chosen_weights  # sensitivity: the chosen weights as the distribution (own cache key)
        self.softmax_logits = softmax_logits  # sensitivity: the softmax of the logits, whatever the scoring (own key)
        self.cache = cache
        self.max_tokens, self.batch_tokens = max_tokens, batch_tokens
        self.adapter = loaded.adapter
        # routing that depends on the batch: each text alone (the cache's premise: a text's trace is its own)
        self.batch_size = 1 if self.adapter.one_text_per_forward else batch_size
        self.routers = self.adapter.routers(loaded.model)
        if not self.routers:
            looked = getattr(self.adapter, "looked_for", "")
            raise InputError(f"{loaded.name} has no router layers to trace"
                             + (f": Routing Lens looked for {looked}, and found no router." if looked else "."))
        self._lock = threading.Lock()
        self._captured: dict[tuple[Stack, int], Captured] = {}
        pad, self.eos_id = loaded.tokenizer.pad_token_id, loaded.tokenizer.eos_token_id
        self.pad_id = int(pad if pad is not None else 0)

    # ---------- tokenisation ----------
    def encode(self, text: str) -> Encoded:
        """Tokenise with offsets, truncate to `max_tokens` (keeping EOS), align tokens to words.
        Not thread-safe (fast tokenizers raise "Already borrowed" under concurrent use): `trace` calls it under
        the tracer's lock."""
        return self.encode_many([text])[0]

    def encode_many(self, texts: Sequence[str]) -> list[Encoded]:
        """`encode` for many texts with one tokenizer call (the fast tokenizer batches them in Rust)."""
        return encode_texts(self.loaded.tokenizer, texts, self.max_tokens, self.eos_id)

    # ---------- hooks ----------
    def _hook(self, stack: Stack, block: int, last: bool = False):
        convert = self.adapter.converter(stack, block)

        def hook(_module, inputs, output):
            captured = convert(output)
            if self.softmax_logits:
                captured = (torch.softmax(self.adapter.logits_of(output).float(), dim=-1), *captured[1:])
            self._captured[(stack, block)] = (self.adapter.as_chosen_weights(output, captured) if self.chosen_weights
                                              else captured)
            if self.capture_inputs:
                self._inputs[(stack, block)] = inputs[0].detach()
            if last:
                raise _LastRouterDone

        return hook

    def _stops_early(self) -> bool:
        """Not under accelerate's placement hooks: their post-forward (which offloads weights again) must run."""
        return self.stop_early and not getattr(self.loaded.model, "hf_device_map", None)

    def _forward(self, batch: list[Encoded], stacks: tuple[Stack, ...], decoder_read: DecoderRead = "input",
                 causal_width: int | None = None) -> dict[tuple[Stack, int], tuple[np.ndarray, ...]]:
        """One padded forward pass; returns per router (probs (B,S,E) float32, dropped (B,S) bool,
        selected experts (B,S,k)). Routers that see flattened tokens are reshaped back to (B,S); the adapter's causal
        stacks run over the first `causal_width` tokens only (their S is that width)."""
        device = self.loaded.input_device
        ids, mask = right_padded([e.ids for e in batch], self.pad_id)
        ids, mask = ids.to(device), mask.to(device)
        model = self.loaded.model
        asked = [(stack, block, module) for stack in stacks for block, module in self.routers.get(stack, [])]
        stop = self._stops_early()
        handles = [module.register_forward_hook(self._hook(stack, block, last=stop and i == len(asked) - 1))
                   for i, (stack, block, module) in enumerate(asked)]
        try:
            self._captured.clear()
            self._inputs.clear()
            lifted = self.adapter.without_capacity(model) if not self.capacity else contextlib.nullcontext()
            with torch.inference_mode(), lifted:
                try:
                    self.adapter.run(model, ids, mask, stacks, decoder_read, causal_width)
                except _LastRouterDone:
                    pass
            return rows_per_text(self._captured, self._inputs, ids.shape[0], self.adapter.decoder_offset(decoder_read),
                                 causal_width, self.adapter.causal_stacks)
        finally:
            for h in handles:
                h.remove()
            self._captured.clear()
            self._inputs.clear()

    def _batches(self, encoded: list[Encoded]) -> list[list[int]]:
        return length_buckets([len(e.ids) for e in encoded], self.batch_tokens, self.batch_size)

    def _assemble(self, e: Encoded, b: int, stacks: tuple[Stack, ...], captured,
                  decoder_read: DecoderRead = "input", prefix: int | None = None) -> RoutingTrace:
        n = len(e.ids)
        pooling = pooling_matrix(e.token_word, len(e.word_spans))
        routing, inputs = {}, {}
        for stack in stacks:
            blocks = [blk for blk, _ in self.routers.get(stack, [])]
            if not blocks:
                continue
            m = prefix if prefix is not None and stack in self.adapter.causal_stacks else n
            routing[stack] = stack_routing(blocks, [captured[(stack, blk)][:3] for blk in blocks], b, n, m, pooling,
                                           e.token_word)
            if self.capture_inputs:
                inputs[stack] = np.stack([text_rows(captured[(stack, blk)][3][b], n) for blk in blocks])  # (L, T, d)
        lm = self.loaded
        return RoutingTrace(
            text=e.text,
            model=lm.name,
            revision=lm.revision,
            dtype=lm.dtype,
            num_experts=lm.num_experts,
            column_names=dict(self.adapter.extra_columns),
            tokens=e.tokens,
            token_spans=e.token_spans,
            token_word=e.token_word,
            words=[e.text[s:t] for s, t in e.word_spans],
            word_spans=e.word_spans,
            word_source=e.word_source,
            stacks=routing,
            truncated=e.truncated,
            n_input_tokens=e.n_input_tokens,
            decoder_read=decoder_read,
            causal_prefix=prefix if prefix is not None and prefix < n else None,
            router_inputs=inputs or None,
        )

    def _prefix(self, e: Encoded, until: int | None) -> int | None:
        """Tokens the causal stacks must see so that every token starting before character `until` is traced."""
        return prefix_tokens(e.token_spans, until) if self.adapter.causal_stacks else None

    # ---------- public ----------
    def without_capacity(self) -> Tracer:
        """A tracer over the same model and cache with every expert's capacity lifted (see `capacity`)."""
        return self._sibling(capacity=False)

    def with_chosen_weights(self) -> Tracer:
        """A tracer over the same model and cache whose distribution is the model's chosen weights (normalised)."""
        return self._sibling(chosen_weights=True)

    def with_softmax_of_logits(self) -> Tracer:
        """A tracer whose distribution is the softmax of the router logits, whatever the family's scoring: a sigmoid
        scorer's normalised scores set on the softmax's scale (the sensitivity table's "softmax of the logits")."""
        return self._sibling(softmax_logits=True)

    def capturing_inputs(self) -> Tracer:
        """A tracer over the same model that also keeps each router's input (see `capture_inputs`)."""
        return self._sibling(capture_inputs=True)

    def _sibling(self, **changed) -> Tracer:
        """Same model, cache and limits, and the same lock: hooks are registered on the shared modules, so two
        tracers of one model must never run a forward pass at the same time."""
        options = dict(cache=self.cache, max_tokens=self.max_tokens, batch_tokens=self.batch_tokens,
                       batch_size=self.batch_size, capacity=self.capacity, stop_early=self.stop_early,
                       capture_inputs=self.capture_inputs, chosen_weights=self.chosen_weights,
                       softmax_logits=self.softmax_logits)
        sibling = Tracer(self.loaded, **{**options, **changed})
        sibling._lock = self._lock
        return sibling

    def key(self, text: str, stacks: tuple[Stack, ...], decoder_read: DecoderRead = "input",
            until: int | None = None) -> str:
        lm = self.loaded
        # Quantised weights route differently from full precision; device_map / offload placements do not.
        precision = f"{lm.dtype}-{lm.placement}" if lm.placement in ("8bit", "4bit") else lm.dtype
        if decoder_read != "input" and "decoder" in stacks:
            precision += f"-decoder-read-{decoder_read}"
        if lm.dtype != "float32" and lm.experts_kernel == "grouped":  # equal to the loop to 1e-6 in fp32 only
            precision += "-grouped"
        if not self.capacity and self.adapter.capacity is not None:
            precision += "-no-capacity"
        if self.chosen_weights:
            precision += "-chosen-weights"
        if self.softmax_logits:
            precision += "-softmax-logits"
        if until is not None and any(s in self.adapter.causal_stacks for s in stacks):
            precision += f"-until-{until}"
        return trace_key(lm.entry.location, lm.revision, precision, text, stacks, self.max_tokens)

    def check_decoder_read(self, decoder_read: DecoderRead) -> None:
        if decoder_read not in self.adapter.decoder_reads:
            raise InputError(f"{self.loaded.name} reads its decoder routing only at "
                             f"{' or '.join(self.adapter.decoder_reads)} (asked: {decoder_read!r}).")

    def trace(self, texts: str | Sequence[str], stacks: Sequence[Stack] = STACKS, progress: Progress | None = None,
              decoder_read: DecoderRead = "input", until: Sequence[int | None] | None = None) -> list[RoutingTrace]:
        """Trace each text (cache first); results are in input order, and batching changes a probability by float
        rounding only (≤ 2e-6 in float32; docs/definitions.md, "Batching and the trace cache"). `decoder_read`:
        where a teacher-forced decoder's routing of token t is read (docs/definitions.md). `until` (per text, a
        character offset or None): only the routing of tokens starting before it is wanted, so the adapter's causal
        stacks stop after them — identical routing there (causal attention; capacity queues fill in token order),
        no work after; the untraced rows are NaN and the trace says `causal_prefix`."""
        self.check_decoder_read(decoder_read)
        if isinstance(texts, str):
            texts = [texts]
        stacks = tuple(s for s in STACKS if s in stacks)
        if not stacks:
            raise InputError("Choose at least one stack to trace: encoder and/or decoder.")
        # One-stack models (MoE-fied encoder, decoder-only MoE) return their one stack whatever is asked.
        stacks = tuple(s for s in stacks if s in self.routers) or tuple(s for s in STACKS if s in self.routers)
        if "decoder" not in stacks:
            decoder_read = "input"  # the reading concerns the decoder alone; encoder traces stay one cache entry
        results: list[RoutingTrace | None] = [None] * len(texts)
        todo: dict[str, list[int]] = {}
        reach: dict[str, int | None] = {}  # per text, the furthest `until` asked (None: all of it)
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise InputError(f"Text {i + 1} is empty. Type a sentence to trace.")
            u = None if until is None else until[i]
            hit = self._cached(text, stacks, decoder_read, u)
            if hit is not None:
                results[i] = hit
            else:
                todo.setdefault(text, []).append(i)
                reach[text] = None if u is None or reach.get(text, u) is None else max(u, reach.get(text, u))
        unique = list(todo)
        done = len(texts) - sum(len(v) for v in todo.values())
        if progress:
            progress(done, len(texts))
        with self._lock:  # one tokenizer and one model, shared by every app session: one caller at a time
            encoded = self.encode_many(unique)
            prefixes = [self._prefix(e, reach[t]) for e, t in zip(encoded, unique)]
            for batch in self._batches(encoded):
                widths = [prefixes[i] for i in batch]
                width = None if None in widths else max(widths)
                captured = self._forward([encoded[i] for i in batch], stacks, decoder_read, width)
                for b, i in enumerate(batch):
                    trace = self._assemble(encoded[i], b, stacks, captured, decoder_read, prefixes[i])
                    if self.cache is not None and not self.capture_inputs:
                        partial = reach[unique[i]] if trace.causal_prefix is not None else None
                        self.cache.put(self.key(unique[i], stacks, decoder_read, partial), trace)
                    for j in todo[unique[i]]:
                        results[j] = trace
                    done += len(todo[unique[i]])
                if progress:
                    progress(done, len(texts))
        return results  # type: ignore[return-value]

    def _cached(self, text: str, stacks: tuple[Stack, ...], decoder_read: DecoderRead = "input",
                until: int | None = None) -> RoutingTrace | None:
        """A trace of the text from the cache: the partial one asked for (`until`), else a full one."""
        if self.cache is None or self.capture_inputs:  # cached traces hold no router inputs
            return None
        hit = self.cache.get(self.key(text, stacks, decoder_read, until)) if until is not None else None
        hit = hit or self.cache.get(self.key(text, stacks, decoder_read))
        if hit is None and stacks == ("encoder",) and "decoder" in self.routers:
            full = self.cache.get(self.key(text, ("encoder", "decoder")))
            if full is not None:
                full.stacks = {"encoder": full.stacks["encoder"]}
                hit = full
        return hit
