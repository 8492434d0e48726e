"""The reference a Compare pair is judged against: the model's own routing of the bundled classic triplets
(core.studies.homonym_triplets), short sentences like the ones a class types.

WiC's pairs are long sentences that differ in many words, so every WiC pair is routed less alike than a short classic
pair; ranked among them, a short pair always looks like a typical same-meaning pair. Here the same-meaning partners
of the classic triplets set what a change of sentence alone does to a word's routing, at the length the pair has."""
from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from core.measures.metrics import jss
from core.studies.homonym_triplets import TRIPLETS, Triplet
from core.tracing.routing_trace import RoutingTrace
from core.tracing.words import find_word

TraceMany = Callable[[list[str]], list[RoutingTrace]]
"""texts → one trace per text, every stack of the model."""

COLUMNS = ["word", "label", "stack", "jss"]


def classic_pairs(trace_many: TraceMany, triplets: Sequence[Triplet] = TRIPLETS) -> pd.DataFrame:
    """Per triplet and stack the word's mean JSS over the sparse layers between the base sentence and each partner:
    label T (same meaning) and F (different meaning). Columns word, label, stack, jss; one batch of traces."""
    texts = [t.base for t in triplets] + [t.same for t in triplets] + [t.different for t in triplets]
    traces = trace_many(texts)
    n = len(triplets)
    rows = []
    for i, triplet in enumerate(triplets):
        base = traces[i]
        for label, partner in (("T", traces[n + i]), ("F", traces[2 * n + i])):
            span_a, span_b = find_word(base.text, triplet.word), find_word(partner.text, triplet.word)
            for stack in base.stacks:
                if stack not in partner.stacks or not span_a or not span_b:
                    continue
                try:
                    p1, p2 = base.span_probs(stack, *span_a[0]), partner.span_probs(stack, *span_b[0])
                except Exception:  # noqa: BLE001 - a word truncated away is left out of a reference, never fatal
                    continue
                rows.append({"word": triplet.word, "label": label, "stack": stack, "jss": float(jss(p1, p2).mean())})
    return pd.DataFrame(rows, columns=COLUMNS)


def for_word(reference: pd.DataFrame, word: str) -> pd.DataFrame:
    """The reference without `word`'s own triplet (leave one out): a classic word is never judged against itself."""
    return reference[reference["word"].str.lower() != word.strip().lower()]


def same_meaning_floor(reference: pd.DataFrame, stack: str, word: str = "", share: float = 0.9) -> float | None:
    """The JSS below which a pair is routed more differently than `share` of the short same-meaning pairs: the line
    Compare draws on its per-word chart (None: no reference for the stack)."""
    ref = for_word(reference, word)
    same = ref[(ref["stack"] == stack) & (ref["label"] == "T")]["jss"].to_numpy(dtype=float)
    return float(np.quantile(same, 1 - share)) if len(same) else None


def wic_ordering(wic: pd.DataFrame, stack: str, seed: int = 0) -> tuple[float, float, float, int] | None:
    """How often one word's different-meaning pair is routed less alike than its same-meaning pair, on the model's
    own WiC words: for each lemma with pairs of both labels, the share of its (same, different) combinations in
    that order (ties count half); the mean over lemmas, its 95 % bootstrap CI over lemmas (scipy.stats.bootstrap,
    percentile, seeded) and the number of lemmas. None when no lemma has both labels."""
    from scipy.stats import bootstrap

    part = wic[wic["stack"] == stack]
    if "lemma" not in part or not len(part):
        return None
    # per lemma, the Mann–Whitney U of its same- against its different-meaning pairs over n_same · n_different:
    # the share of (same, different) combinations in that order, ties half (average ranks, vectorised)
    frame = pd.DataFrame({"lemma": part["lemma"].to_numpy(), "same": (part["label"] == "T").to_numpy(),
                          "jss": part["jss"].to_numpy(dtype=float)})
    frame["rank"] = frame.groupby("lemma", sort=False)["jss"].rank(method="average")
    frame["same_rank"] = frame["rank"].where(frame["same"], 0.0)
    per = frame.groupby("lemma", sort=False).agg(n=("same", "size"), n_same=("same", "sum"),
                                                 rank_sum=("same_rank", "sum"))
    per = per[(per.n_same > 0) & (per.n_same < per.n)]
    if not len(per):
        return None
    n_diff = per.n - per.n_same
    shares = (per.rank_sum - per.n_same * (per.n_same + 1) / 2) / (per.n_same * n_diff)
    values = np.asarray(shares)
    if len(values) < 2 or np.ptp(values) == 0:
        return float(values.mean()), float(values.mean()), float(values.mean()), len(values)
    ci = bootstrap((values,), np.mean, n_resamples=2000, confidence_level=0.95, method="percentile",
                   random_state=np.random.default_rng(seed)).confidence_interval
    return float(values.mean()), float(ci.low), float(ci.high), len(values)


_ORDERINGS: dict[tuple[int, str, int], tuple[float, float, float, int] | None] = {}


def wic_ordering_held(wic: pd.DataFrame, stack: str, seed: int = 0) -> tuple[float, float, float, int] | None:
    """`wic_ordering`, computed once per reference frame (and stack) while that frame lives: the app's references are
    read-only frames held per process, so a Compare view costs no bootstrap (it was ~0.05 CPU-s a view)."""
    key = (id(wic), stack, seed)
    if key not in _ORDERINGS:
        _ORDERINGS[key] = wic_ordering(wic, stack, seed)
        weakref.finalize(wic, _ORDERINGS.pop, key, None)
    return _ORDERINGS[key]

