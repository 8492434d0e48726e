"""SCWS's identical-word pairs (the paper's footnote 2): how many there are, how they are rated, and whether Table 2
holds without them. The paper moves on to WiC because "only 8% of the pairs of words in SCWS are identical and their
assigned scores are substantially higher (6.8 compared to 3.6)"; the statistic is recomputed from the data here."""
from __future__ import annotations

import pandas as pd
from scipy import stats

# The footnote's values (quoted there from Pilehvar and Camacho-Collados, 2019).
PAPER_FOOTNOTE = {"identical pairs (share)": 0.08, "mean score, identical pairs": 6.8,
                  "mean score, different words": 3.6}


def identical(scws: pd.DataFrame) -> pd.Series:
    """True where both words of a pair are the same word (case-insensitive)."""
    return scws.word1.str.lower() == scws.word2.str.lower()


def footnote_frame(scws: pd.DataFrame) -> pd.DataFrame:
    """The footnote's three numbers from the data beside the paper's, plus Welch's p of the score difference."""
    same = identical(scws)
    ours = {"identical pairs (share)": float(same.mean()),
            "mean score, identical pairs": float(scws.score[same].mean()),
            "mean score, different words": float(scws.score[~same].mean())}
    p = (float(stats.ttest_ind(scws.score[same], scws.score[~same], equal_var=False).pvalue)
         if same.sum() >= 2 and (~same).sum() >= 2 else float("nan"))
    return pd.DataFrame([{"statistic": k, "value": v, "paper": PAPER_FOOTNOTE[k], "n_identical": int(same.sum()),
                          "n_pairs": len(scws), "welch_p_scores": p} for k, v in ours.items()])
