"""Compare's answer in plain words, in the two modes a class uses.

With a control (a same-meaning partner): the paper's own contrast — was the word routed more differently when its
meaning changed than when it kept it? — then how much one word's ordering shows on this model (how often it holds on
the model's own WiC words). Without one: the pair against short same-meaning pairs of the classic triplets
(core.studies.classic_reference), never against WiC's long pairs."""
from __future__ import annotations

from dataclasses import astuple, dataclass

import pandas as pd

from core.studies.classic_reference import for_word
from core.studies.pair_reference import place_pair

CHANGED, SOME_SIGN = 0.9, 0.7  # shares of short same-meaning pairs routed more alike than the pair


@dataclass(frozen=True)
class ReferenceVerdict:
    """One pair against the short same-meaning (and different-meaning) pairs of the classic triplets."""

    stack: str
    jss: float
    more_different_than_same: float  # share of short same-meaning pairs routed more alike than this pair
    more_different_than_different: float  # likewise among short different-meaning pairs
    n_same: int
    n_different: int

    @property
    def level(self) -> str:
        """"changed", "some sign" or "no sign"."""
        if self.more_different_than_same >= CHANGED:
            return "changed"
        return "some sign" if self.more_different_than_same >= SOME_SIGN else "no sign"

    def text(self, word: str) -> str:
        share = f"{self.more_different_than_same:.0%}"
        if self.level == "changed":
            return (f"*{word}* was routed more differently (JSS {self.jss:.3f}) than {share} of short sentence pairs "
                    "in which a word keeps its meaning: the context changed how it was routed.")
        if self.level == "some sign":
            return (f"*{word}* was routed more differently (JSS {self.jss:.3f}) than {share} of short sentence pairs "
                    "in which a word keeps its meaning: some sign that the context changed how it was routed.")
        than = (f"more differently than only {share} of them" if self.more_different_than_same > 0
                else "more alike than every one of them")
        return (f"*{word}* was routed about as alike (JSS {self.jss:.3f}) as a word that keeps its meaning in two "
                f"short sentences ({than}): no sign that this context changed its routing beyond what any change of "
                "sentence does.")

    def sentence(self) -> str:
        return (f"{self.stack}: at JSS {self.jss:.3f} the word was routed more differently than "
                f"{self.more_different_than_same:.0%} of the short same-meaning pairs and "
                f"{self.more_different_than_different:.0%} of the short "
                f"different-meaning pairs of the classic homonyms, through this model (n = {self.n_same} and "
                f"{self.n_different}; the word's own triplet left out).")


def reference_verdicts(reference: pd.DataFrame, stack_jss: dict[str, float], word: str) -> list[ReferenceVerdict]:
    """For each stack with short pairs of both labels (the word's own triplet left out): the same shares as a
    pair's place among WiC pairs (`place_pair`), against the classic triplets instead."""
    return [ReferenceVerdict(*astuple(p)) for p in place_pair(for_word(reference, word), stack_jss)]


@dataclass(frozen=True)
class OrderingVerdict:
    """A word with a different-meaning partner and a same-meaning partner (the control): which routed further
    apart, and how often that ordering holds for one word on the model's own WiC words."""

    stack: str
    jss_different: float
    jss_same: float
    wic: tuple[float, float, float, int] | None = None  # share, CI low, CI high, lemmas (None: no saved result)

    @property
    def holds(self) -> bool:
        return self.jss_different < self.jss_same

    def text(self, word: str) -> str:
        if self.holds:
            return (f"*{word}* was routed more differently when its meaning changed (JSS {self.jss_different:.3f}) "
                    f"than when it kept its meaning ({self.jss_same:.3f}): here the routing follows the meaning.")
        return (f"*{word}* was routed more alike when its meaning changed (JSS {self.jss_different:.3f}) than when it "
                f"kept its meaning ({self.jss_same:.3f}): in this triplet the routing does not follow the meaning.")

    def evidence(self) -> str:
        """How much one word's ordering shows on this model."""
        if self.wic is None:
            return ("How much one word shows: run Benchmarks for this model to see how often this ordering holds on "
                    "its own WiC words.")
        share, low, high, n = self.wic
        return (f"How much one word shows: on this model's own WiC words, a word's different-meaning pair is routed "
                f"less alike than its same-meaning pair {share:.0%} of the time (95% CI {low:.0%}–{high:.0%}, "
                f"{n:,} words; 50% is chance), so one word's ordering is "
                + ("a hint, not a proof." if low > 0.5 else "no evidence on its own."))
