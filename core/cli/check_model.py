"""`python -m core check-model [MODEL]`: does the model do what its router says? (core.tracing.self_check)

Exit codes: 0 passed; 1 FAILED (the model does not do what its router says, or its routing depends on its batch or
on chance); 2 the model could not be loaded or the input is wrong; 3 the model loaded but crashed when run, so the
check could not run; 4 the check does not apply (no router or no experts module to compare with)."""
from __future__ import annotations

import argparse
import sys

from core.cli.common import add_model_args, load_for_cli

PASSED, FAILED, CANNOT_LOAD, COULD_NOT_RUN, NOT_APPLICABLE = 0, 1, 2, 3, 4


def _said(err: Exception) -> str:
    """An exception in one line: its type and the first line of its message."""
    return f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0][:300]}"


def cmd_check_model(args: argparse.Namespace) -> int:
    from core.errors import RoutingLensError
    from core.tracing.self_check import CHECK_TEXT, self_check

    try:
        loaded = load_for_cli(args.name or args.model, args)
    except RoutingLensError:
        raise
    except Exception as err:  # noqa: BLE001 - transformers' own failure to build this checkpoint, said in a line
        print(f"error: the model could not be loaded ({_said(err)}).", file=sys.stderr)
        return CANNOT_LOAD
    adapter = loaded.adapter
    print(f"family: {adapter.family} · scoring: {adapter.scoring.name}"
          + (f" · shared experts: {adapter.shared}" if adapter.shared else ""))
    print(f"routing distribution: {adapter.scoring.definition}")
    try:
        result = self_check(loaded, args.text or CHECK_TEXT)
    except Exception as err:  # noqa: BLE001 - any crash inside the model's own code is reported, not raised
        print(f"error: {loaded.name} loaded, but running it failed ({_said(err)}). The self-check "
              "could not run; this model cannot be traced as it is (its own forward pass fails).", file=sys.stderr)
        return COULD_NOT_RUN
    for layer in result.layers:
        zero = f" · {layer.zero_weight} at weight 0" if layer.zero_weight else ""
        print(f"{layer.stack} block {layer.block}: {layer.tokens} tokens · experts read = dispatched: "
              f"{'yes' if layer.reading_matches else 'NO'}{zero} · |output − Σ weight·expert| ≤ {layer.max_diff:.1e} "
              f"(allowed {layer.tolerance:.1e}: outputs up to {layer.scale:.2g}, {loaded.dtype}) · "
              f"{'ok' if layer.ok else 'FAILED'}")
    print(result.summary())
    if result.ok is None:
        return NOT_APPLICABLE
    return FAILED if result.ok is False else PASSED


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-model", help="check that a model does what its router says (exit 0 passed, 1 FAILED, "
                                           "2 cannot load, 3 crashed when run, 4 not applicable)")
    p.add_argument("name", nargs="?", default=None, help="the model (as --model); default: the bundled demo")
    add_model_args(p)
    p.add_argument("--text", default=None, help="the sentence to check on (default: a short English sentence)")
    p.set_defaults(func=cmd_check_model)
