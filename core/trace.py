"""`RoutingTrace`: what the tracer returns for one text — small, numpy, easy to turn into frames."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.errors import InputError
from core.words import tokens_in_span

STACKS = ("encoder", "decoder")


@dataclass
class StackRouting:
    """Routing of one stack (encoder or decoder) for one text.

    Rows are aligned to the *input tokens* in both stacks: for the decoder, row t is read at the
    decoder position where token t is the input (teacher forcing, DESIGN §2).
    """

    layers: np.ndarray  # (L,) block index of each sparse layer
    token_probs: np.ndarray  # (L, T, E) float32 softmax of the router logits
    top1: np.ndarray  # (L, T) int16 argmax expert
    dropped: np.ndarray  # (L, T) bool, over expert capacity
    word_probs: np.ndarray  # (L, W, E) float32 mean of each word's token rows

    def mean_over_layers(self, level: str = "word") -> np.ndarray:
        return (self.word_probs if level == "word" else self.token_probs).mean(axis=0)


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
    stacks: dict[str, StackRouting] = field(default_factory=dict)
    truncated: bool = False
    n_input_tokens: int = 0  # tokens before truncation

    # ---------- selection ----------
    def stack(self, name: str) -> StackRouting:
        if name not in self.stacks:
            raise InputError(f"This trace has no {name} routing (traced stacks: {', '.join(self.stacks)}).")
        return self.stacks[name]

    def span_probs(self, stack: str, start: int, end: int) -> np.ndarray:
        """(L, E) routing of the text span [start, end): mean of the tokens overlapping it."""
        idx = tokens_in_span(self.token_spans, start, end)
        if idx.size == 0:
            raise InputError(
                f"No token covers characters {start}-{end} of the text"
                + (" (the text was truncated)." if self.truncated else ".")
            )
        return self.stack(stack).token_probs[:, idx, :].mean(axis=1)

    def word_probs_at(self, stack: str, word_index: int) -> np.ndarray:
        """(L, E) routing of the `word_index`-th whitespace-delimited word of the text (as WiC counts words)."""
        hit = np.nonzero(self.word_source == word_index)[0]
        if hit.size == 0:
            raise InputError(
                f"Word index {word_index} has no routing: the text has {len(self.text.split())} words"
                + (" and was truncated." if self.truncated else ".")
            )
        return self.stack(stack).word_probs[:, int(hit[0]), :]

    # ---------- frames ----------
    def to_frame(self, stack: str, level: str = "token") -> pd.DataFrame:
        """Long frame: one row per (layer, token|word, expert) with the probability, top-1 and drop flags."""
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
            frame["dropped"] = np.repeat(s.dropped.reshape(-1), n_exp)
        return frame

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
        }
        for name, s in self.stacks.items():
            out[name] = {
                "layers": s.layers.tolist(),
                "tokens": list(self.tokens),
                "words": list(self.words),
                "token_probs": np.round(s.token_probs.astype(np.float64), 6).tolist(),
                "word_probs": np.round(s.word_probs.astype(np.float64), 6).tolist(),
                "top1": s.top1.tolist(),
                "dropped": s.dropped.tolist(),
            }
        return out

    # ---------- serialisation (for the disk cache) ----------
    def to_bytes(self) -> bytes:
        meta = {
            "text": self.text,
            "model": self.model,
            "revision": self.revision,
            "dtype": self.dtype,
            "num_experts": self.num_experts,
            "tokens": self.tokens,
            "words": self.words,
            "truncated": self.truncated,
            "n_input_tokens": self.n_input_tokens,
            "stacks": list(self.stacks),
        }
        arrays = {
            "meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
            "token_spans": self.token_spans,
            "token_word": self.token_word,
            "word_spans": self.word_spans,
            "word_source": self.word_source,
        }
        for name, s in self.stacks.items():
            for key in ("layers", "token_probs", "top1", "dropped", "word_probs"):
                arrays[f"{name}.{key}"] = getattr(s, key)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "RoutingTrace":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode("utf-8"))
            stacks = {
                name: StackRouting(**{k: z[f"{name}.{k}"] for k in ("layers", "token_probs", "top1", "dropped", "word_probs")})
                for name in meta.pop("stacks")
            }
            return cls(
                token_spans=z["token_spans"],
                token_word=z["token_word"],
                word_spans=z["word_spans"],
                word_source=z["word_source"],
                stacks=stacks,
                **meta,
            )
