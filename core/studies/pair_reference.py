"""Where one Compare pair sits among a model's own WiC pairs: is a JSS of 0.98 a lot, for this model?

The reference is a saved reproduction's per-pair JSS (wic_pairs.csv): same-meaning and different-meaning pairs of
WiC, each a word in two sentences like the Compare pair."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyarrow.lib import ArrowException

from core.measures.grouping import pair_means
from core.results.store import read_output


@dataclass(frozen=True)
class PairPlacement:
    stack: str
    jss: float
    more_different_than_same: float  # share of same-meaning pairs routed more alike than this pair
    more_different_than_different: float  # likewise among different-meaning pairs
    n_same: int
    n_different: int

    def verdict(self, word: str) -> str:
        """The answer in plain words, against the model's own same-meaning pairs (the yardstick a change of
        sentence alone sets)."""
        tenths = int(self.more_different_than_same * 10 + 1e-9)
        if tenths >= 9:
            return (f"Routed more differently than {tenths} in 10 same-meaning pairs: the context changed how "
                    f"*{word}* was routed.")
        if tenths >= 7:
            return (f"Routed more differently than {tenths} in 10 same-meaning pairs: some sign that the context "
                    f"changed how *{word}* was routed.")
        return (f"Routed about as alike as a typical same-meaning pair (more differently than {tenths} in 10): no "
                f"sign that this context changed how *{word}* was routed beyond what any change of sentence does.")

    def sentence(self) -> str:
        return (f"{self.stack}: JSS {self.jss:.3f} is more different than {self.more_different_than_same:.0%} of "
                f"same-meaning WiC pairs and {self.more_different_than_different:.0%} of different-meaning ones "
                f"for this model (n = {self.n_same:,} and {self.n_different:,}).")


def wic_reference(folder: Path, model: str) -> pd.DataFrame:
    """Per-pair stack JSS of `model` in a saved result: columns stack, label (T/F), jss, lemma. Empty when absent."""
    try:
        pairs = read_output(folder, "wic_pairs", ["model", "experts", "pair", "split", "lemma", "pos", "label", "stack",
                                                  "jss"])
    except (OSError, ValueError, ArrowException):
        return pd.DataFrame(columns=["stack", "label", "jss", "lemma"])
    pairs = pairs[pairs.model.astype(str) == model]
    if not len(pairs):
        return pd.DataFrame(columns=["stack", "label", "jss", "lemma"])
    means = pair_means(pairs)
    # plain numpy columns: Arrow-backed ones are iterated element by element in Python by pandas' comparisons
    return pd.DataFrame({"stack": means["stack"].astype(str).to_numpy(dtype=object),
                         "label": means["label"].astype(str).to_numpy(dtype=object),
                         "jss": means["jss"].to_numpy(dtype=float),
                         "lemma": means["lemma"].astype(str).to_numpy(dtype=object)})


def reference_densities(reference: pd.DataFrame, points: int = 200) -> pd.DataFrame:
    """Kernel densities (scipy's gaussian_kde, Scott's bandwidth) of the reference JSS per stack and label, on one
    grid per stack spanning its pairs ± 0.01: columns stack, label, x, density, n. Computed once per model, so a
    Compare view only adds its pair's line."""
    from scipy.stats import gaussian_kde

    rows = []
    for stack, ref in reference.groupby("stack", sort=False):
        jss = ref["jss"].to_numpy(dtype=float)
        grid = np.linspace(float(jss.min()) - 0.01, min(1.0, float(jss.max()) + 0.01), points)
        for label in ("T", "F"):
            x = jss[(ref["label"] == label).to_numpy()]
            if len(x) > 1 and np.ptp(x) > 0:
                rows.append(pd.DataFrame({"stack": stack, "label": label, "x": grid, "density": gaussian_kde(x)(grid),
                                          "n": len(x)}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["stack", "label", "x", "density", "n"])


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
