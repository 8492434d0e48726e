"""How Compare's verdict reads on the bundled classic triplets, per model: does the ordering mode put the
different-meaning partner further apart, and does the short-pair mode call different-meaning partners changed far
more often than same-meaning ones? Each word is judged with its own triplet left out of the reference, exactly as
Compare judges it (docs/dashboard.md holds the default model's numbers; `python -m bench.verdict_calibration`)."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy.stats import binomtest

from core.studies.pair_verdict import reference_verdicts


@dataclass(frozen=True)
class Calibration:
    stack: str
    rows: pd.DataFrame  # word, jss_different, jss_same, ordering_holds, level_different, level_same

    def share(self, column: str, value: object = True) -> tuple[float, float, float, int]:
        """Share of triplets where `column` equals `value`, its 95% Wilson CI, and n."""
        hits, n = int((self.rows[column] == value).sum()), len(self.rows)
        ci = binomtest(hits, n).proportion_ci(confidence_level=0.95, method="wilson")
        return hits / n, float(ci.low), float(ci.high), n

    def called(self, partner: str, levels: tuple[str, ...] = ("changed",)) -> float:
        """Share of `partner` ("different" or "same") pairs whose verdict is one of `levels`."""
        return float(self.rows[f"level_{partner}"].isin(levels).mean())

    def summary(self) -> pd.DataFrame:
        """One row per reading: the share and its CI."""
        rows = []
        for name, column, value in (
                ("ordering holds (with a control)", "ordering_holds", True),
                ("different meaning called changed", "level_different", "changed"),
                ("same meaning called changed", "level_same", "changed"),
                ("different meaning: some sign", "level_different", "some sign"),
                ("same meaning: some sign", "level_same", "some sign"),
                ("different meaning: no sign", "level_different", "no sign"),
                ("same meaning: no sign", "level_same", "no sign")):
            share, low, high, n = self.share(column, value)
            rows.append({"stack": self.stack, "reading": name, "share": share, "ci_low": low, "ci_high": high, "n": n})
        return pd.DataFrame(rows)


def calibrate(classic: pd.DataFrame) -> list[Calibration]:
    """Per stack of a model's classic reference (core.studies.classic_reference.classic_pairs)."""
    out = []
    for stack, part in classic.groupby("stack", sort=False):
        wide = part.pivot_table(index="word", columns="label", values="jss", sort=False).dropna()
        rows = []
        for word, row in wide.iterrows():
            level = {label: reference_verdicts(classic, {stack: row[label]}, word)[0].level for label in ("T", "F")}
            rows.append({"word": word, "jss_different": row["F"], "jss_same": row["T"],
                         "ordering_holds": bool(row["F"] < row["T"]), "level_different": level["F"],
                         "level_same": level["T"]})
        out.append(Calibration(str(stack), pd.DataFrame(rows)))
    return out
