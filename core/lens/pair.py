"""Compare's result: one word in two sentences (and a control), and how it is judged (core.studies.pair_verdict)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from core.errors import InputError
from core.studies.classic_reference import same_meaning_floor, wic_ordering_held
from core.studies.pair_reference import PairPlacement, place_pair
from core.studies.pair_verdict import OrderingVerdict, ReferenceVerdict, reference_verdicts
from core.studies.word_pair import StackComparison
from core.tracing.routing_trace import RoutingTrace
from core.tracing.words import find_word


@dataclass(frozen=True)
class PairComparison:
    """One word in two sentences (and, optionally, in a same-meaning control sentence): per stack its routing in
    each and their JSS per layer; the verdicts (`ordering` with a control, `verdicts` against the short classic pairs
    always); where the pair sits among the model's own WiC pairs; the yardsticks (label → JSS); the context effect on
    every word both share, and the line the short same-meaning pairs set for it (`strip_floor`, per stack)."""

    word: str
    traces: tuple[RoutingTrace, RoutingTrace]
    spans: tuple[tuple[int, int], tuple[int, int]]
    stacks: dict[str, StackComparison]
    placements: list[PairPlacement] = field(default_factory=list)
    yardsticks: dict[str, float] = field(default_factory=dict)
    strip: pd.DataFrame = field(default_factory=pd.DataFrame)
    verdicts: list[ReferenceVerdict] = field(default_factory=list)
    control: dict[str, StackComparison] | None = None
    ordering: list[OrderingVerdict] = field(default_factory=list)
    strip_floor: dict[str, float] = field(default_factory=dict)

    @property
    def mean_jss(self) -> dict[str, float]:
        return {stack: c.mean_jss for stack, c in self.stacks.items()}

    @property
    def control_jss(self) -> dict[str, float]:
        return {stack: c.mean_jss for stack, c in (self.control or {}).items()}

    def headline(self) -> str:
        """The answer in plain words (the first stack): the ordering with a control, else the short-pair verdict;
        empty when neither can be given."""
        if self.ordering:
            return self.ordering[0].text(self.word)
        return self.verdicts[0].text(self.word) if self.verdicts else ""


def word_span(sentence: str, word: str, occurrence: int, which: int) -> tuple[int, int]:
    found, where = find_word(sentence, word), "the control" if which == 3 else f"sentence {which}"
    if not found:
        raise InputError(f"“{word}” does not occur in {where}.")
    if not 0 <= occurrence < len(found):
        raise InputError(f"“{word}” occurs {len(found)} times in {where}; occurrence {occurrence} is out of range "
                         "(counting from 0).")
    return found[occurrence]


@dataclass(frozen=True)
class Judgement:
    """What Lens.compare adds to the bare comparison: every verdict and reference line."""

    placements: list[PairPlacement]
    verdicts: list[ReferenceVerdict]
    ordering: list[OrderingVerdict]
    floors: dict[str, float]


def judge(stacks: dict[str, StackComparison], controlled: dict[str, StackComparison] | None, word: str,
          wic: pd.DataFrame, classic: pd.DataFrame) -> Judgement:
    """The pair against the model's saved WiC pairs (`wic`, may be empty) and its classic triplets (`classic`); with
    a control, the ordering of the two partners and how often it holds on the model's WiC words."""
    means = {s: c.mean_jss for s, c in stacks.items()}
    ordering = [OrderingVerdict(s, means[s], c.mean_jss, wic_ordering_held(wic, s) if len(wic) else None)
                for s, c in (controlled or {}).items() if s in means]
    floors = {s: f for s in stacks if len(classic) and (f := same_meaning_floor(classic, s, word)) is not None}
    return Judgement(place_pair(wic, means) if len(wic) else [], reference_verdicts(classic, means, word), ordering,
                     floors)
