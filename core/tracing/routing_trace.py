"""`RoutingTrace`: what the tracer returns for one text — small, numpy, easy to turn into frames."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import safetensors.numpy

from core.errors import InputError
from core.tracing.words import tokens_in_span
from core.types import STACKS, Level, Stack

__all__ = ["STACKS", "RoutingTrace", "StackRouting"]


@dataclass
class StackRouting:
    """Routing of one stack (encoder or decoder) for one text.

    Rows are aligned to the *input tokens* in both stacks: for the decoder, row t is read at the
    decoder position where token t is the input (teacher forcing, docs/definitions.md).
    """

    layers: np.ndarray  # (L,) block index of each sparse layer
    token_probs: np.ndarray  # (L, T, E) float32 softmax of the router logits
    top1: np.ndarray  # (L, T) int16 argmax expert
    dropped: np.ndarray  # (L, T) bool, over expert capacity
    word_probs: np.ndarray  # (L, W, E) float32 mean of each word's token rows
    selected: np.ndarray | None = None  # (L, T, k) int16 experts the model chose (k = its top-k; top1 when k=1)

    def __post_init__(self) -> None:
        if self.selected is None:
            self.selected = np.asarray(self.top1, dtype=np.int16)[..., None]

    @property
    def top_k(self) -> int:
        return int(self.selected.shape[-1])

    @property
    def margins(self) -> np.ndarray:
        """(L, T) each token's decision margin at the decision the model made: its lowest chosen expert's probability −
        its highest unchosen one's (p_(k) − p_(k+1) for a plain top-k; negative where a bias chose past a more
        probable expert; definitions)."""
        from core.measures.routing_stats import decision_margins

        return decision_margins(self.token_probs, self.selected)[0]

    @property
    def relative_margins(self) -> np.ndarray:
        """(L, T) the margin as a share of the lowest chosen probability (Megatron-Core's relative margin)."""
        from core.measures.routing_stats import decision_margins

        return decision_margins(self.token_probs, self.selected)[1]

    @property
    def choice_differs(self) -> np.ndarray:
        """(L, T) bool: the model chose other experts than its distribution's top-k (a selection bias, group limits;
        a dropped token never counts). Always False for a router whose choice is its distribution's top-k."""
        k = self.top_k
        top = np.sort(np.argsort(-self.token_probs, axis=-1, kind="stable")[..., :k], axis=-1)
        traced = ~np.isnan(self.token_probs).any(-1)  # rows past a causal prefix hold no routing
        return (np.sort(self.selected.astype(np.int64), axis=-1) != top).any(-1) & ~self.dropped & traced


@dataclass
class RoutingTrace:
    """Router probabilities of every token at every sparse layer, plus words and provenance."""

    text: str
    model: str
    revision: str
    dtype: str
    num_experts: int
    tokens: list[str]
    token_spans: np.ndarray  # (T, 2) character span of each token; (0, 0) for special tokens
    token_word: np.ndarray  # (T,) index of the word a token belongs to, -1 for none
    words: list[str]
    word_spans: np.ndarray  # (W, 2)
    word_source: np.ndarray  # (W,) index of each word among all whitespace words of `text`
    stacks: dict[Stack, StackRouting] = field(default_factory=dict)
    truncated: bool = False
    n_input_tokens: int = 0  # tokens before truncation
    decoder_read: str = "input"  # where a teacher-forced decoder's routing was read (docs/definitions.md)
    causal_prefix: int | None = None  # causal stacks traced for the first N tokens only (later rows NaN); None: all
    column_names: dict[int, str] = field(default_factory=dict)  # columns that are not experts ("no expert", ZAYA)

    def column(self, e: int) -> str:
        """How column `e` of the routing distribution is named: "e3", or what it is when not an expert."""
        return self.column_names.get(int(e), f"e{int(e)}")
    # per stack, (L, T, d) each router's input hidden state per token (Tracer(capture_inputs=True) only; not cached)
    router_inputs: dict[Stack, np.ndarray] | None = None

    # ---------- selection ----------
    def stack(self, name: Stack) -> StackRouting:
        if name not in self.stacks:
            raise InputError(f"This trace has no {name} routing (traced stacks: {', '.join(self.stacks)}).")
        return self.stacks[name]

    def span_probs(self, stack: Stack, start: int, end: int) -> np.ndarray:
        """(L, E) routing of the text span [start, end): mean of the tokens overlapping it."""
        idx = tokens_in_span(self.token_spans, start, end)
        if idx.size == 0:
            raise InputError(
                f"No token covers characters {start}-{end} of the text"
                + (" (the text was truncated)." if self.truncated else ".")
            )
        return self.stack(stack).token_probs[:, idx, :].mean(axis=1)

    def target_tokens(self, word_index: int | None = None, start: int | None = None, end: int | None = None
                      ) -> np.ndarray:
        """The token indices a target pools over, as `word_probs_at` (a whitespace word) or `span_probs` (a span)
        pool them: so the router inputs of a target are pooled exactly as its probabilities."""
        if word_index is not None:
            hit = np.nonzero(self.word_source == word_index)[0]
            if hit.size == 0:
                raise InputError(f"Word index {word_index} has no routing: the text has {len(self.text.split())} "
                                 "words" + (" and was truncated." if self.truncated else "."))
            return np.nonzero(self.token_word == int(hit[0]))[0]
        idx = tokens_in_span(self.token_spans, 0 if start is None else start, len(self.text) if end is None else end)
        if idx.size == 0:
            raise InputError("No token covers the target span" + (" (the text was truncated)." if self.truncated
                                                                  else "."))
        return idx

    def word_probs_at(self, stack: Stack, word_index: int) -> np.ndarray:
        """(L, E) routing of the `word_index`-th whitespace-delimited word of the text (as WiC counts words)."""
        hit = np.nonzero(self.word_source == word_index)[0]
        if hit.size == 0:
            raise InputError(
                f"Word index {word_index} has no routing: the text has {len(self.text.split())} words"
                + (" and was truncated." if self.truncated else ".")
            )
        return self.stack(stack).word_probs[:, int(hit[0]), :]

    # ---------- frames ----------
    def to_frame(self, stack: Stack, level: Level = "token") -> pd.DataFrame:
        """Long frame: one row per (layer, token|word, expert) with the probability, top-1 flag and, per token,
        whether the model selected that expert (its top-k), whether the token was dropped and whether its choice differs
        from the distribution's top-k (`choice_differs`)."""
        s = self.stack(stack)
        probs = s.token_probs if level == "token" else s.word_probs
        labels = self.tokens if level == "token" else self.words
        n_layers, n_items, n_exp = probs.shape
        frame = pd.DataFrame(
            {
                "stack": stack,
                "layer": np.repeat(s.layers, n_items * n_exp),
                "position": np.tile(np.repeat(np.arange(n_items), n_exp), n_layers),
                level: np.tile(np.repeat(np.asarray(labels, dtype=object), n_exp), n_layers),
                "expert": np.tile(np.arange(n_exp), n_layers * n_items),
                "probability": probs.reshape(-1),
            }
        )
        top1 = probs.argmax(axis=-1)
        frame["is_top1"] = frame["expert"].to_numpy() == np.repeat(top1.reshape(-1), n_exp)
        if level == "token":
            chosen = np.zeros((n_layers, n_items, n_exp), dtype=bool)
            np.put_along_axis(chosen, s.selected.astype(np.int64), True, axis=-1)
            frame["is_selected"] = chosen.reshape(-1)
            frame["dropped"] = np.repeat(s.dropped.reshape(-1), n_exp)
            frame["choice_differs"] = np.repeat(s.choice_differs.reshape(-1), n_exp)
            frame["margin"] = np.repeat(s.margins.reshape(-1), n_exp)
        return frame

    def to_csv(self, level: Level = "token") -> str:
        """Every traced stack in one CSV: one frame, one header (the `stack` column tells them apart)."""
        return pd.concat([self.to_frame(s, level) for s in self.stacks], ignore_index=True).to_csv(index=False)

    def to_json(self) -> dict:
        """The CLI's `--json` object (plain lists, float32 values as floats)."""
        out: dict = {
            "text": self.text,
            "model": self.model,
            "revision": self.revision,
            "dtype": self.dtype,
            "num_experts": self.num_experts,
            "truncated": self.truncated,
            "n_input_tokens": self.n_input_tokens,
            "decoder_read": self.decoder_read,
            "column_names": {str(k): v for k, v in self.column_names.items()},
        }
        for name, s in self.stacks.items():
            out[name] = {
                "layers": s.layers.tolist(),
                "tokens": list(self.tokens),
                "words": list(self.words),
                "token_probs": np.round(s.token_probs.astype(np.float64), 6).tolist(),
                "word_probs": np.round(s.word_probs.astype(np.float64), 6).tolist(),
                "top1": s.top1.tolist(),
                "selected": s.selected.tolist(),
                "dropped": s.dropped.tolist(),
                "choice_differs": s.choice_differs.tolist(),
                "margin": np.round(s.margins, 6).tolist(),
                "relative_margin": np.round(s.relative_margins, 6).tolist(),
            }
        return out

    # ---------- serialisation (for the disk cache) ----------
    # safetensors: the arrays as tensors, the strings and scalars as JSON in the file's metadata.
    _ARRAY_FIELDS = ("token_spans", "token_word", "word_spans", "word_source")
    _STACK_FIELDS = ("layers", "token_probs", "top1", "dropped", "word_probs", "selected")
    _META_KEY = "routing_trace"

    def to_bytes(self) -> bytes:
        arrays = {name: np.ascontiguousarray(getattr(self, name)) for name in self._ARRAY_FIELDS}
        for stack, s in self.stacks.items():
            for key in self._STACK_FIELDS:
                arrays[f"{stack}.{key}"] = np.ascontiguousarray(getattr(s, key))
        header = {
            "text": self.text, "model": self.model, "revision": self.revision, "dtype": self.dtype,
            "num_experts": self.num_experts, "tokens": self.tokens, "words": self.words,
            "truncated": self.truncated, "n_input_tokens": self.n_input_tokens, "stacks": list(self.stacks),
            "decoder_read": self.decoder_read, "causal_prefix": self.causal_prefix,
            "column_names": {str(k): v for k, v in self.column_names.items()},
        }
        return safetensors.numpy.save(arrays, metadata={self._META_KEY: json.dumps(header, ensure_ascii=False)})

    @classmethod
    def from_bytes(cls, data: bytes) -> RoutingTrace:
        arrays = safetensors.numpy.load(data)
        # The safetensors header: 8 bytes of length, then JSON whose "__metadata__" holds our strings.
        n = int.from_bytes(data[:8], "little")
        header = json.loads(json.loads(data[8 : 8 + n])["__metadata__"][cls._META_KEY])
        stacks = {st: StackRouting(**{k: arrays[f"{st}.{k}"] for k in cls._STACK_FIELDS}) for st in header.pop("stacks")}
        header["column_names"] = {int(k): v for k, v in header.get("column_names", {}).items()}
        return cls(**{k: arrays[k] for k in cls._ARRAY_FIELDS}, stacks=stacks, **header)
