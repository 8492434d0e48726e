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
    if args.limit is not None and args.limit < 3:  # user errors before anything heavy is imported
        raise RoutingLensError("--limit must be at least 3 (rows per dataset), or left out for the full run.")
    from core.viz.export import VECTOR_FORMATS

    formats = [f.strip().lower() for f in (args.figures or "").split(",") if f.strip()]
    if bad := [f for f in formats if f not in VECTOR_FORMATS]:
        raise RoutingLensError(f"--figures takes {' and/or '.join(VECTOR_FORMATS)} (comma-separated), not "
                               f"{', '.join(bad)}.")
    if args.bundled:
        from core.results.bundled import BUNDLED_MODELS, bundled_dir

        if args.model or args.limit is not None or args.sensitivity:
            raise RoutingLensError("--bundled runs the bundled models on the full data: leave out --model, --limit "
                                   "and --sensitivity.")
        args.model, args.out, args.format = list(BUNDLED_MODELS), str(bundled_dir()), "parquet"
    from core.lens import reproduce
    from core.tracing.cache import TraceCache
    from core.tracing.tracer import Tracer
    from core.viz.report import claims_table, correlation_table

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
                        retrace=retrace, fmt=args.format, report=not args.bundled, controls=args.controls or args.bundled,
                        swap=args.swap, open_questions=args.open_questions or args.bundled)
    what = "Parquet files" if args.format == "parquet" else "CSVs"
    print(f"wrote the {what} ({', '.join(results.FILES)}, …){'' if args.bundled else ' and report.html'} to {out} "
          f"in {time.time() - started:.1f} s", file=sys.stderr)
    for note in results.notes:
        print(f"note: {note.text}", file=sys.stderr)
    if formats:
        from core.viz.report import write_figures

        written = write_figures(results, out, formats)
        print(f"wrote {len(written)} figures to {out / 'figures'}", file=sys.stderr)
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
    p.add_argument("--controls", action="store_true",
                   help="also the router-or-representation controls: the router inputs' cosine, random routers of the "
                        "trained shape, the retention ratio and a partial correlation (controls*.csv)")
    p.add_argument("--limit", type=int, default=None, help="random subsample of N rows per dataset, for a quick look")
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit subsample")
    p.add_argument("--figures", default="", metavar="svg,pdf",
                   help="also write every figure as SVG and/or PDF under OUT/figures/ (needs Chromium or Chrome; "
                        "nothing is downloaded)")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv",
                   help="csv (default; what a spreadsheet opens) or parquet (compact, zstd)")
    p.add_argument("--open-questions", action="store_true",
                   help="also the paper's open questions: affixal negation and multi-word expressions (probes.*) and "
                        "word frequency beside polysemy (frequency.*), with their claims (implied by --bundled)")
    p.add_argument("--swap", action="store_true",
                   help="also the swap study: route each WiC pair's word in sentence 2 as in sentence 1 and measure "
                        "how much the output moves, different- vs same-meaning pairs (swap*.csv; a claim)")
    p.add_argument("--bundled", action="store_true",
                   help="regenerate the results shipped with Routing Lens (with the controls): the bundled models on "
                        "the full data, as "
                        "Parquet under results/bundled/ (what the Benchmarks page opens on)")
    p.add_argument("--sensitivity", action="store_true",
                   help="also recompute every headline number under each alternative choice (precision, decoder "
                        "reading, JSS measure, sense counting, expert capacity, the chosen weights, aggregation): "
                        "sensitivity.csv, and "
                        "whether each paper claim survives every choice (claims.csv); re-traces the models 4 more times")
    p.set_defaults(func=cmd_reproduce)
