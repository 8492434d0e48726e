"""`python -m core studies RUN_DIR`: the field's routing analyses (OLMoE, Mixtral, OpenMoE) over a corpus run."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def cmd_studies(args: argparse.Namespace) -> int:
    from core.cli.corpus import check_run_folder

    check_run_folder(args.run)
    from core.lens.field import run_studies

    started = time.time()
    given = [Path(c.strip()) for c in args.checkpoints.split(",") if c.strip()] if args.checkpoints else None
    studies, out = run_studies(Path(args.run), Path(args.out) if args.out else None, given, args.capacity_factor,
                               progress=lambda label: print(f"done: {label}", file=sys.stderr))
    meta = studies.meta.iloc[0]
    print(f"{meta.model}: {int(meta.tokens):,} tokens, {len(json.loads(meta.checkpoints))} checkpoints -> {out} "
          f"(report.html; {time.time() - started:.1f} s)", file=sys.stderr)
    table5 = studies.consecutive[studies.consecutive.domain == "all"]
    print(table5[["stack", "layer", "first_choice", "chance_first", "any_choice", "chance_any", "pairs"]]
          .to_string(index=False, float_format="%.3f"))
    if len(studies.saturation):
        print(studies.saturation[["checkpoint", "stack", "layer", "saturation", "top1_agreement", "n"]]
              .to_string(index=False, float_format="%.3f"))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("studies", help="the field's routing analyses (OLMoE, Mixtral, OpenMoE) over a corpus run")
    p.add_argument("run", help="a corpus output folder (`python -m core corpus`); RUN/checkpoints/ holds its series")
    p.add_argument("--checkpoints", default=None, metavar="RUNS",
                   help="corpus runs of earlier checkpoints, earliest first, separated by commas (default: the runs "
                        "in RUN/checkpoints/, by fraction of training)")
    p.add_argument("--capacity-factor", type=float, default=2.0,
                   help="simulated capacity for models without one: capacity = factor × tokens / E per sequence "
                        "(default 2.0; models with a capacity, e.g. Switch, use their own)")
    p.add_argument("--out", default=None, help="where to write (default RUN/studies)")
    p.set_defaults(func=cmd_studies)
