"""Write the sentence lists of the negation and multi-word-expression studies (core.studies.probe_sentences) to
results/open_questions/{negation_items,mwe_items}.parquet: deterministic under --seed (default 0), from WordNet 3.0
and Brown, never a router-training sentence.

    .venv/bin/python scripts/open_question_sentences.py [--seed 0] [--out results/open_questions]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.wordnet import wordnet  # noqa: E402
from core.lens.open_questions import training_sentences  # noqa: E402
from core.results.bundled import open_questions_dir  # noqa: E402
from core.studies.probe_sentences import mwe_items, negation_items  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(open_questions_dir()))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wn, excluded = wordnet(), training_sentences()
    negation = negation_items(wn, args.seed, excluded=excluded)
    mwe = mwe_items(wn, args.seed, excluded=excluded)
    negation.to_parquet(out / "negation_items.parquet", index=False)
    mwe.to_parquet(out / "mwe_items.parquet", index=False)
    print(f"{len(negation)} negation pairs ({(negation.source == 'brown').sum()} in Brown contexts), {len(mwe)} "
          f"multi-word expressions ({(mwe.source == 'brown').sum()} found in Brown) written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
