"""`python -m core ...`: one module per sub-command (trace, reproduce, corpus/experts, studies, ablate, intervene,
check-model, train-demo, train-router, datasets).

Every user-facing failure ends as a one-line `error: ...` on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from core.cli import (
    ablate,
    check_model,
    corpus,
    datasets,
    intervene,
    reproduce,
    studies,
    trace,
    train_demo,
    train_router,
)
from core.errors import RoutingLensError

SUBCOMMANDS = (trace, reproduce, corpus, studies, ablate, intervene, check_model, train_demo, train_router, datasets)


def _quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Routing Lens: trace and measure MoE routing.")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_transformers()
    try:
        return int(args.func(args) or 0)
    except RoutingLensError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
