"""Compare's verdict on the bundled classic homonym triplets (core.studies.homonym_triplets), per model and stack.

    python -m bench.verdict_calibration [--model minilm-router-16 ...]

Prints, for each model, how often the ordering mode is right (different-meaning partner routed further apart than
the same-meaning one) and how often the short-pair mode calls each partner changed / some sign / no sign, with 95%
Wilson CIs; each word judged with its own triplet left out of the reference, as Compare judges it.
"""
from __future__ import annotations

import argparse

from core.lens import Lens
from core.studies.verdict_calibration import calibrate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", nargs="+", default=["minilm-router-16"])
    args = ap.parse_args()
    print("| model | stack | reading | share | 95% CI | n |")
    print("|---|---|---|---|---|---|")
    for model in args.model:
        for calibration in calibrate(Lens(model).classic_reference()):
            for row in calibration.summary().itertuples():
                print(f"| {model} | {row.stack} | {row.reading} | {row.share:.0%} | {row.ci_low:.0%}–{row.ci_high:.0%} "
                      f"| {row.n} |")


if __name__ == "__main__":
    main()
