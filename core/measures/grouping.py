"""How WiC-style per-layer rows are grouped before a statistic: per pair over a stack's layers, and the scopes
(pooled per family, then per model) every figure and table is drawn for."""
from __future__ import annotations

import pandas as pd


def scopes(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Pooled, then per model. Models of different families are never pooled together (their layers and
    stacks differ in meaning): with several families there is one "pooled <family>" scope per family."""
    families = list(dict.fromkeys(frame["family"])) if "family" in frame and len(frame) else []
    if len(families) > 1:
        pooled = [(f"pooled {f}", frame[frame["family"] == f]) for f in families]
    else:
        pooled = [("pooled", frame)]
    return pooled + [(m, g) for m, g in frame.groupby("model", sort=False)]


def pair_means(wic_pairs: pd.DataFrame) -> pd.DataFrame:
    """Mean JSS over a stack's sparse layers per WiC pair (the per-pair "encoder/decoder JSS")."""
    keys = ["model", "experts", "pair", "split", "lemma", "pos", "label", "stack"]
    keys += ["family"] if "family" in wic_pairs else []
    return wic_pairs.groupby(keys, as_index=False, sort=False)["jss"].mean()
