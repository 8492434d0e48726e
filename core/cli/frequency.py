"""`python -m core frequency [RESULT]`: does word frequency explain the context effect beyond polysemy? Over a saved
result's polysemy table (default: the bundled full-data result), per model and stack, the partial correlations of
each word's same − different meaning JSS with its Zipf frequency (senses held fixed) and with its sense count
(frequency held fixed), with bootstrap 95 % CIs (core.studies.frequency)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.errors import InputError


def cmd_frequency(args: argparse.Namespace) -> int:
    import pandas as pd

    from core.results.bundled import bundled_dir
    from core.studies.frequency import frequency_effect

    folder = Path(args.result) if args.result else bundled_dir()
    table = folder / "polysemy.parquet"
    if not table.is_file() and (folder / "polysemy.csv").is_file():
        table = folder / "polysemy.csv"
    if not table.is_file():
        raise InputError(f"{folder.name}/ holds no polysemy table: give a result folder written by `reproduce`.")
    polysemy = pd.read_parquet(table) if table.suffix == ".parquet" else pd.read_csv(table)
    frame = frequency_effect(polysemy)
    print(frame.round(3).to_string(index=False))
    supported = frame[frame.ci_low_frequency > 0]
    print(f"frequency explains the context effect beyond polysemy in {len(supported)} of {len(frame)} model stacks "
          "(the partial correlation's 95% CI above 0)", file=sys.stderr)
    if args.out:
        out = Path(args.out)
        if out.suffix not in (".csv", ".parquet"):
            raise InputError(f"--out {args.out}: name a .csv or .parquet file.")
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(out, index=False) if out.suffix == ".parquet" else frame.to_csv(out, index=False)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("frequency", help="word frequency beside polysemy: partial correlations with the context effect")
    p.add_argument("result", nargs="?", default=None, help="a result folder (default: the bundled full-data result)")
    p.add_argument("--out", default=None, help="write the table to a .csv or .parquet file")
    p.set_defaults(func=cmd_frequency)
