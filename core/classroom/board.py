"""What the class's pairs show together — the paper's own method on the class's data: the JSS of same- against
different-meaning pairs, Cohen's d with its bootstrap CI, the pairs that surprised the model, and where students'
judgements of one pair disagree."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.measures.metrics import EffectSize, effect_size

MIN_PER_GROUP = 3  # pairs of each meaning before an effect size is shown


@dataclass(frozen=True)
class Board:
    same: np.ndarray  # mean JSS of the class's same-meaning pairs
    different: np.ndarray
    unsure: int
    effect: EffectSize | None  # d(same − different), None while there are too few pairs
    sentence: str  # what the class's data shows so far
    surprises: pd.DataFrame  # same meaning routed apart, different meaning routed alike
    disagreements: pd.DataFrame  # one pair, judged differently by different students
    submissions: int


def _pair_key(row) -> tuple:
    return (row.word.lower(), *sorted((row.sentence1.strip().lower(), row.sentence2.strip().lower())))


def board(frame: pd.DataFrame, reference: pd.DataFrame | None = None) -> Board:
    """The board of a room's visible entries; `reference`: the model's WiC pairs (label T/F, jss) to judge surprises
    by (the class's own medians when there is none)."""
    same = frame.mean_jss[frame.judgement == "same"].to_numpy(dtype=float)
    diff = frame.mean_jss[frame.judgement == "different"].to_numpy(dtype=float)
    unsure = int((frame.judgement == "unsure").sum())
    effect = None
    if len(same) < MIN_PER_GROUP or len(diff) < MIN_PER_GROUP:
        sentence = (f"Not enough pairs yet: {len(same)} same-meaning and {len(diff)} different-meaning; the board "
                    f"needs at least {MIN_PER_GROUP} of each to compare them.")
    else:
        effect = effect_size(same, diff)
        ci = f"d = {effect.d:+.2f}, 95% CI [{effect.ci_low:+.2f}, {effect.ci_high:+.2f}], n = {len(same)} + {len(diff)}"
        if effect.ci_low > 0:
            sentence = (f"The class's same-meaning pairs are routed more alike than its different-meaning pairs ({ci}): "
                        "the model's routing responds to meaning, as the paper found.")
        elif effect.ci_high < 0:
            sentence = (f"The class's different-meaning pairs are routed more alike than its same-meaning pairs ({ci}): "
                        "the opposite of the paper's finding — look at the surprising pairs.")
        else:
            sentence = f"No clear difference yet ({ci}: the interval spans 0); more pairs will tell."
    has_ref = reference is not None and len(reference) and {"label", "jss"} <= set(reference.columns)
    low = float(np.median(reference.jss[reference.label == "F"])) if has_ref else (
        float(np.median(diff)) if len(diff) else np.nan)
    high = float(np.median(reference.jss[reference.label == "T"])) if has_ref else (
        float(np.median(same)) if len(same) else np.nan)
    surprising = frame[((frame.judgement == "same") & (frame.mean_jss < low))
                       | ((frame.judgement == "different") & (frame.mean_jss > high))]
    surprises = surprising.assign(why=np.where(surprising.judgement == "same", "same meaning, routed apart",
                                               "different meaning, routed alike"))
    judged = frame[frame.judgement != "unsure"]
    keys = judged.apply(_pair_key, axis=1) if len(judged) else pd.Series(dtype=object)
    split = judged.groupby(keys).judgement.nunique() if len(judged) else pd.Series(dtype=int)
    disagreeing = judged[keys.isin(split[split > 1].index)] if len(split) else judged.iloc[0:0]
    return Board(same, diff, unsure, effect, sentence, surprises, disagreeing, int(len(frame)))
