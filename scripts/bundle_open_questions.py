"""Answer the paper's open questions on the bundled models and write them beside the bundled result:
results/open_questions/{probes,frequency,open_claims}.parquet (negation, multi-word expressions, word frequency;
the routing lab writes its own tables with `python -m core lab`). The same studies run on any model with
`python -m core reproduce --open-questions`; this script reuses the bundled full-data polysemy table instead of
re-running the paper's analyses.

    .venv/bin/python scripts/bundle_open_questions.py [--models NAME ...]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    import pandas as pd

    from core.cli.common import tqdm_progress
    from core.lens.open_questions import run_open_questions
    from core.models.loading import load_model
    from core.results.bundled import BUNDLED_MODELS, bundled_dir, open_questions_dir
    from core.tracing.cache import TraceCache
    from core.tracing.tracer import Tracer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(BUNDLED_MODELS))
    parser.add_argument("--out", default=str(open_questions_dir()))
    args = parser.parse_args()
    started = time.time()
    polysemy = pd.read_parquet(bundled_dir() / "polysemy.parquet")
    tracers = [Tracer(load_model(m, dtype="float32"), cache=TraceCache()) for m in args.models]
    answers = run_open_questions(tracers, polysemy[polysemy.model.isin(args.models)], tqdm_progress)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    answers["probes"].to_parquet(out / "probes.parquet", index=False)
    answers["frequency"].to_parquet(out / "frequency.parquet", index=False)
    answers["claims"].to_parquet(out / "open_claims.parquet", index=False)
    print(answers["claims"][["claim", "model", "stack", "verdict", "value", "ci_low", "ci_high"]].round(4)
          .to_string(index=False))
    print(f"wrote probes, frequency and open_claims to {out} in {time.time() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
