"""`python -m core check-model [MODEL]`: does the model do what its router says? (core.tracing.self_check)"""
from __future__ import annotations

import argparse

from core.cli.common import add_model_args, load_for_cli


def cmd_check_model(args: argparse.Namespace) -> int:
    from core.tracing.self_check import CHECK_TEXT, self_check

    loaded = load_for_cli(args.name or args.model, args)
    adapter = loaded.adapter
    print(f"family: {adapter.family} · scoring: {adapter.scoring.name}"
          + (f" · shared experts: {adapter.shared}" if adapter.shared else ""))
    print(f"routing distribution: {adapter.scoring.definition}")
    result = self_check(loaded, args.text or CHECK_TEXT)
    for layer in result.layers:
        print(f"{layer.stack} block {layer.block}: {layer.tokens} tokens · experts read = dispatched: "
              f"{'yes' if layer.reading_matches else 'NO'} · |output − Σ weight·expert| ≤ {layer.max_diff:.1e} "
              f"(outputs up to {layer.scale:.2g}) · {'ok' if layer.ok else 'FAILED'}")
    print(result.summary())
    return 1 if result.ok is False else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-model", help="check that a model does what its router says (exit 1 when it does not)")
    p.add_argument("name", nargs="?", default=None, help="the model (as --model); default: the bundled demo")
    add_model_args(p)
    p.add_argument("--text", default=None, help="the sentence to check on (default: a short English sentence)")
    p.set_defaults(func=cmd_check_model)
