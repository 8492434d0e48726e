"""The paper's WiC analysis on expert ids alone for every bundled model: each model's WiC traces (from the trace cache
where they are) exported to the portable format, reduced to ids, and scored on chosen-set overlap
(core.studies.id_overlap); writes results/open_questions/{ids_only,ids_claims}.parquet — what a user whose routes
come from a serving engine can compute, beside what the distributions give.

    .venv/bin/python scripts/bundle_ids_only.py [--models NAME ...]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    import pandas as pd

    from core.data.datasets import load_wic
    from core.lens.routes import export_traces
    from core.models.loading import load_model
    from core.results.bundled import BUNDLED_MODELS, open_questions_dir
    from core.studies.id_overlap import id_claims, wic_overlap
    from core.tracing.cache import TraceCache
    from core.tracing.tracer import Tracer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(BUNDLED_MODELS))
    parser.add_argument("--out", default=str(open_questions_dir()))
    args = parser.parse_args()
    started = time.time()
    wic = load_wic()
    texts = list(dict.fromkeys([*wic.sentence1, *wic.sentence2]))
    frames = []
    for name in args.models:
        lm = load_model(name, dtype="float32")
        traces = Tracer(lm, cache=TraceCache()).trace(texts)
        frame, _meta = export_traces(traces, lm)
        frames.append(wic_overlap(frame.assign(probs=None), texts, lm.tokenizer, lm.num_experts, wic, name))
        print(f"{name}: {time.time() - started:.0f} s", file=sys.stderr)
    result = pd.concat(frames, ignore_index=True)
    out = Path(args.out)
    result.to_parquet(out / "ids_only.parquet", index=False)
    id_claims(result).to_parquet(out / "ids_claims.parquet", index=False)
    print(result[result.layer_pos == -1].round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
