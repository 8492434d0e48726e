"""Answer the paper's open questions on the bundled models and write them beside the bundled result:
results/open_questions/{probes,frequency,open_claims}.parquet (negation, multi-word expressions, word frequency;
the routing lab writes its own tables with `python -m core lab`) and {ids_only,ids_claims}.parquet (the WiC analysis
on expert ids alone: each model's WiC traces, from the trace cache where they are, exported to the portable format,
reduced to ids and scored on chosen-set overlap — what a user whose routes come from a serving engine can compute).
The same studies run on any model with `python -m core reproduce --open-questions` and `python -m core id-analysis`;
this script reuses the bundled full-data polysemy table instead of re-running the paper's analyses.

    .venv/bin/python scripts/bundle_open_questions.py [--models NAME ...] [--only probes|ids]
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
    from core.studies.id_overlap import id_claims
    from core.tracing.cache import TraceCache
    from core.tracing.tracer import Tracer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(BUNDLED_MODELS))
    parser.add_argument("--out", default=str(open_questions_dir()))
    parser.add_argument("--only", choices=["probes", "ids"], default=None)
    args = parser.parse_args()
    started = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tracers = [Tracer(load_model(m, dtype="float32"), cache=TraceCache()) for m in args.models]
    if args.only != "ids":
        polysemy = pd.read_parquet(bundled_dir() / "polysemy.parquet")
        answers = run_open_questions(tracers, polysemy[polysemy.model.isin(args.models)], tqdm_progress)
        answers["probes"].to_parquet(out / "probes.parquet", index=False)
        answers["frequency"].to_parquet(out / "frequency.parquet", index=False)
        answers["claims"].to_parquet(out / "open_claims.parquet", index=False)
        print(answers["claims"][["claim", "model", "stack", "verdict", "value", "ci_low", "ci_high"]].round(4)
              .to_string(index=False))
    if args.only != "probes":
        ids = ids_only(tracers, started)
        ids.to_parquet(out / "ids_only.parquet", index=False)
        id_claims(ids).to_parquet(out / "ids_claims.parquet", index=False)
        print(ids[ids.layer_pos == -1].round(3).to_string(index=False))
    print(f"wrote the open questions' tables to {out} in {time.time() - started:.0f} s", file=sys.stderr)
    return 0


def ids_only(tracers: list, started: float):
    """The IDs-only WiC analysis of every model (its WiC traces exported, reduced to ids)."""
    import pandas as pd

    from core.data.datasets import load_wic
    from core.lens.routes import export_traces
    from core.studies.id_overlap import wic_overlap

    wic = load_wic()
    texts = list(dict.fromkeys([*wic.sentence1, *wic.sentence2]))
    frames = []
    for tracer in tracers:
        lm = tracer.loaded
        frame, _meta = export_traces(tracer.trace(texts), lm)
        frames.append(wic_overlap(frame.assign(probs=None), texts, lm.tokenizer, lm.num_experts, wic, lm.name))
        print(f"{lm.name}: IDs only after {time.time() - started:.0f} s", file=sys.stderr)
    return pd.concat(frames, ignore_index=True)


if __name__ == "__main__":
    raise SystemExit(main())
