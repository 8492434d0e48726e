"""The teaching gesture: one word, two sentences, how differently is it routed? Pure functions over traces."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import InputError
from core.measures.metrics import jss
from core.studies.homonym_triplets import TRIPLETS
from core.tracing.routing_trace import RoutingTrace
from core.tracing.words import find_word

# The Compare page's low yardstick: two words with nothing in common, each traced alone.
UNRELATED_WORDS = ("banana", "democracy")

STOPWORDS = set("""a an the of to in on at by for with and or but is are was were be been am i you he she it we they
his her its our their my your this that these those as from into than then so not no do does did have has had""".split())


def shared_words(s1: str, s2: str) -> list[str]:
    """Words (lower-cased, punctuation stripped) occurring in both sentences, content words first."""
    def words(s: str) -> list[str]:
        return re.findall(r"\w+(?:['’-]\w+)*", s.lower())

    second = set(words(s2))
    common = list(dict.fromkeys(w for w in words(s1) if w in second))
    return sorted(common, key=lambda w: (w in STOPWORDS, -len(w))) if common else []


@dataclass
class StackComparison:
    layers: list[int]
    p1: np.ndarray  # (L, E)
    p2: np.ndarray  # (L, E)
    jss: np.ndarray  # (L,)

    @property
    def mean_jss(self) -> float:
        return float(self.jss.mean())


def compare_word(t1: RoutingTrace, span1: tuple[int, int], t2: RoutingTrace, span2: tuple[int, int]) -> dict[str, StackComparison]:
    """Per stack: the word's routing in each sentence and their JSS per layer (docs/definitions.md)."""
    out = {}
    for stack in t1.stacks:
        if stack not in t2.stacks:
            continue
        p1 = t1.span_probs(stack, *span1)
        p2 = t2.span_probs(stack, *span2)
        out[stack] = StackComparison([int(b) for b in t1.stacks[stack].layers], p1, p2, jss(p1, p2))
    if not out:
        raise InputError("The two traces share no stack to compare.")
    return out


def unrelated_words_jss(a: RoutingTrace, b: RoutingTrace) -> dict[str, float]:
    """Per stack, the mean JSS of UNRELATED_WORDS, each traced alone (`a`, `b`): the low yardstick beside a pair."""
    comp = compare_word(a, (0, len(UNRELATED_WORDS[0])), b, (0, len(UNRELATED_WORDS[1])))
    return {stack: c.mean_jss for stack, c in comp.items()}


def context_strip(t1: RoutingTrace, t2: RoutingTrace) -> pd.DataFrame:
    """Every word the two sentences share (first occurrences), in sentence 1's order: its JSS per stack (mean over
    layers) and in how many layers its top-1 expert flipped. Columns word, stack, jss, flips, layers."""
    rows = []
    for word in shared_words(t1.text, t2.text):
        o1, o2 = find_word(t1.text, word), find_word(t2.text, word)
        if not o1 or not o2:
            continue
        try:
            comps = compare_word(t1, o1[0], t2, o2[0])
        except InputError:  # truncated away in one sentence
            continue
        for stack, c in comps.items():
            flips = int((c.p1.argmax(-1) != c.p2.argmax(-1)).sum())
            rows.append({"word": word, "start": o1[0][0], "stack": stack, "jss": c.mean_jss, "flips": flips,
                         "layers": len(c.layers)})
    frame = pd.DataFrame(rows, columns=["word", "start", "stack", "jss", "flips", "layers"])
    return frame.sort_values(["stack", "start"], kind="stable").drop(columns="start").reset_index(drop=True)


@dataclass(frozen=True)
class PrecisionCheck:
    """One stack of a Compare pair in the shown precision against float32: mean JSS in each, and the sparse layers
    whose top-1 expert for the word (in either sentence) differs between the two precisions."""

    stack: str
    jss_shown: float
    jss_float32: float
    flipped_layers: list[int]

    def moved(self, tolerance: float) -> bool:
        return bool(self.flipped_layers) or abs(self.jss_shown - self.jss_float32) > tolerance


def precision_check(shown: dict[str, StackComparison], float32: dict[str, StackComparison]) -> list[PrecisionCheck]:
    """Compare the same word pair computed in two precisions (half precision flips near-tie top-1 choices, and a
    flip changes everything routed after it)."""
    checks = []
    for stack, a in shown.items():
        b = float32.get(stack)
        if b is None:
            continue
        flips = (a.p1.argmax(-1) != b.p1.argmax(-1)) | (a.p2.argmax(-1) != b.p2.argmax(-1))
        checks.append(PrecisionCheck(stack, a.mean_jss, b.mean_jss, [a.layers[i] for i in np.flatnonzero(flips)]))
    return checks


@dataclass(frozen=True)
class Preset:
    label: str
    sentence1: str
    sentence2: str
    word: str
    control: str = ""  # a sentence where the word keeps sentence 1's meaning (the classic triplets have one)


# The classic triplets (written for Compare, never WiC's): the page opens on the first.
BUILTIN_PRESETS = [Preset(f"{t.word} — another meaning, and a same-meaning control", t.base, t.different, t.word,
                          t.same) for t in TRIPLETS]
PRESET_LEMMAS = ("bank", "spring", "match", "light", "play", "date")


def wic_presets(data_root=None, lemmas: tuple[str, ...] = PRESET_LEMMAS) -> list[Preset]:
    """The classic triplets, then classic ambiguous pairs taken from WiC (one different-meaning and one same-meaning
    pair per lemma, no control); only the triplets when the data is missing."""
    try:
        from core.data.datasets import load_wic

        wic = load_wic(data_root)
    except Exception:  # noqa: BLE001 - presets are a convenience; fall back silently to the built-ins
        return list(BUILTIN_PRESETS)
    out: list[Preset] = []
    for lemma in lemmas:
        for label, name in ((False, "different meanings"), (True, "same meaning")):
            g = wic[(wic.lemma == lemma) & (wic.label == label)]
            if len(g):
                row = g.iloc[0]
                word = row.sentence1.split()[row.idx1]
                word2 = row.sentence2.split()[row.idx2]
                if word.lower() == word2.lower():
                    out.append(Preset(f"{lemma} — {name} (WiC)", row.sentence1, row.sentence2, word))
    return list(BUILTIN_PRESETS) + out
