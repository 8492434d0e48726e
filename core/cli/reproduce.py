"""`python -m core reproduce`: the paper's Tables 1–2 and Figures 1–3 for one or more models."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.cli.common import add_model_args, load_for_cli, tqdm_progress
from core.errors import RoutingLensError
from core.types import DType


def cmd_reproduce(args: argparse.Namespace) -> int:
    from core.analysis.reproduce import reproduce
    from core.tracing.cache import TraceCache
    from core.tracing.tracer import Tracer
    from core.viz.report import claims_table, correlation_table

    if args.limit is not None and args.limit < 3:
        raise RoutingLensError("--limit must be at least 3 (rows per dataset), or left out for the full run.")
    started = time.time()
    names = args.model or [None]
    tracers = [Tracer(load_for_cli(name, args), cache=None if args.no_cache else TraceCache()) for name in names]
    asked = {id(t): name for t, name in zip(tracers, names)}
    out = Path(args.out)

    def retrace(tracer: Tracer, dtype: DType) -> Tracer:
        """The same model in another precision, for --sensitivity (same placement, revision and cache)."""
        reloaded = load_for_cli(asked[id(tracer)], argparse.Namespace(**{**vars(args), "dtype": dtype}))
        return Tracer(reloaded, cache=tracer.cache)

    results = reproduce(tracers, out, data_dir=args.data_dir, limit=args.limit, seed=args.seed,
                        progress=tqdm_progress, decoder_read=args.decoder_read, sensitivity=args.sensitivity,
                        retrace=retrace)
    print(f"wrote {', '.join(n + '.csv' for n in (*results.FILES, *results.OPTIONAL_FILES, 'comparison'))} and {out / 'report.html'} in "
          f"{time.time() - started:.1f} s", file=sys.stderr)
    for note in results.notes:
        print(f"note: {note.text}", file=sys.stderr)
    print(correlation_table(results.table1).to_string(index=False))
    print(correlation_table(results.table2).to_string(index=False))
    if len(results.claims):
        print(claims_table(results.claims).to_string(index=False))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="the paper's Tables 1–2 and Figures 1–3 for one or more models")
    add_model_args(p, multiple=True)
    p.add_argument("--data-dir", default=None, help="benchmark data folder (default: $ROUTING_LENS_DATA, "
                   "cache/datasets/, ../shared/data)")
    p.add_argument("--out", default="reproduce_out", help="output folder (default reproduce_out/)")
    p.add_argument("--limit", type=int, default=None, help="random subsample of N rows per dataset, for a quick look")
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit subsample")
    p.add_argument("--sensitivity", action="store_true",
                   help="also recompute every headline number under each alternative choice (precision, decoder "
                        "reading, JSS measure, sense counting, expert capacity, aggregation): sensitivity.csv, and "
                        "whether each paper claim survives every choice (claims.csv); re-traces the models 3 more times")
    p.set_defaults(func=cmd_reproduce)
