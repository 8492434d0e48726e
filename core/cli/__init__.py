"""`python -m core ...`: one module per sub-command (trace, compare, reproduce, corpus/experts, studies, ablate, intervene,
check-model, train-demo, train-router, datasets).

Every user-facing failure ends as a one-line `error: ...` on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from core.cli import (
    ablate,
    check_model,
    compare,
    corpus,
    datasets,
    frequency,
    intervene,
    lab,
    reproduce,
    routes,
    studies,
    trace,
    train_demo,
    train_router,
)
from core.cli.common import check_model_name
from core.errors import RoutingLensError

SUBCOMMANDS = (trace, compare, reproduce, corpus, studies, ablate, intervene, check_model, train_demo, train_router, datasets,
               frequency, lab, routes)


def _close_progress_bars() -> None:
    """An error never shares a line with a progress bar: any open bar is closed (ending its line) first."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", []) or []):
        bar.close()


def _quiet_transformers() -> None:
    """Library warnings and weight-loading bars off (unless --verbose), without importing the libraries: the
    environment is read when they load; one already loaded (a caller's) is told directly."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        transformers = sys.modules["transformers"]
        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()


def build_parser() -> argparse.ArgumentParser:
    from core.version import __version__

    parser = argparse.ArgumentParser(prog="routing-lens", description="Routing Lens: trace and measure MoE routing "
                                     "(also `python -m core`).")
    parser.add_argument("--version", action="version", version=f"routing-lens {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show the libraries' warnings and loading bars")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        models = getattr(args, "model", None)
        for name in (models if isinstance(models, list) else [models, getattr(args, "name", None)]):
            check_model_name(name)  # an unknown name fails before torch and transformers load
        if not args.verbose:
            _quiet_transformers()
        if args.quiet:
            os.environ["ROUTING_LENS_QUIET"] = "1"
        return int(args.func(args) or 0)
    except RoutingLensError as err:
        _close_progress_bars()
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
