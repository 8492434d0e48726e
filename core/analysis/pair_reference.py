"""Where one Compare pair sits among a model's own WiC pairs: is a JSS of 0.98 a lot, for this model?

The reference is a saved reproduction's per-pair JSS (wic_pairs.csv): same-meaning and different-meaning pairs of
WiC, each a word in two sentences like the Compare pair."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyarrow.lib import ArrowException

from core.analysis.results import read_output
from core.analysis.wic import pair_means


@dataclass(frozen=True)
class PairPlacement:
    stack: str
    jss: float
    more_different_than_same: float  # share of same-meaning pairs routed more alike than this pair
    more_different_than_different: float  # likewise among different-meaning pairs
    n_same: int
    n_different: int

    def sentence(self) -> str:
        return (f"{self.stack}: JSS {self.jss:.3f} is more different than {self.more_different_than_same:.0%} of "
                f"same-meaning WiC pairs and {self.more_different_than_different:.0%} of different-meaning ones "
                f"for this model (n = {self.n_same:,} and {self.n_different:,}).")


def wic_reference(folder: Path, model: str) -> pd.DataFrame:
    """Per-pair stack JSS of `model` in a saved result: columns stack, label (T/F), jss. Empty when absent."""
    try:
        pairs = read_output(folder, "wic_pairs", ["model", "experts", "pair", "split", "lemma", "pos", "label", "stack",
                                                  "jss"])
    except (OSError, ValueError, ArrowException):
        return pd.DataFrame(columns=["stack", "label", "jss"])
    pairs = pairs[pairs.model.astype(str) == model]
    return pair_means(pairs)[["stack", "label", "jss"]] if len(pairs) else pd.DataFrame(columns=["stack", "label", "jss"])


def place_pair(reference: pd.DataFrame, stack_jss: dict[str, float]) -> list[PairPlacement]:
    """For each stack with reference pairs of both labels: the shares of same- and different-meaning pairs whose JSS
    is higher (routed more alike) than the pair's."""
    out = []
    for stack, value in stack_jss.items():
        ref = reference[reference["stack"] == stack]
        same, diff = ref.jss[ref.label == "T"].to_numpy(), ref.jss[ref.label == "F"].to_numpy()
        if len(same) and len(diff):
            out.append(PairPlacement(stack, float(value), float(np.mean(same > value)), float(np.mean(diff > value)),
                                     len(same), len(diff)))
    return out
