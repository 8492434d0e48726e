"""`python -m core ...`: trace, reproduce, train-demo, datasets.

Every user-facing failure ends as a one-line `error: ...` on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.errors import RoutingLensError
from core.placement import PLACEMENTS


def _quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def add_model_args(p: argparse.ArgumentParser, multiple: bool = False) -> None:
    help_ = "registry name (e.g. demo-switch-8, google/switch-base-8), Hub id, or local folder"
    if multiple:
        p.add_argument("--model", action="append", help=help_ + "; repeat for several models")
    else:
        p.add_argument("--model", default=None, help=help_ + " (default: a cached google model, else the bundled demo)")
    p.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit)")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None,
                   help="default: bfloat16 where the hardware is fast at it, else float32")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when available)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the trace cache")
    p.add_argument("--placement", choices=PLACEMENTS, default="auto",
                   help="auto (default): one device if it fits, else accelerate device_map across GPU and CPU, "
                        "8-/4-bit with bitsandbytes on a GPU, else disk offload; or force one of them")


def load_for_cli(name: str | None, args: argparse.Namespace):
    """Load the model (default when none named) and tell the user which one is in use."""
    from core.models import default_model_name, load_model

    chosen = name or default_model_name()
    loaded = load_model(chosen, revision=args.revision, device=args.device, dtype=args.dtype,
                        placement=getattr(args, "placement", "auto"),
                        on_plan=lambda plan: print(f"plan: {plan.summary}", file=sys.stderr))
    msg = f"model: {loaded.name} ({loaded.params / 1e6:.1f}M params, {loaded.dtype}, {loaded.device})"
    if loaded.family != "switch":
        msg += " — " + loaded.adapter.label
    elif loaded.entry.is_demo:
        msg += " — a bundled teaching model; the paper's checkpoints are one flag away: --model google/switch-base-8"
    print(msg, file=sys.stderr)
    for note in loaded.notes:
        print(f"note: {note}", file=sys.stderr)
    return loaded


def _summary_table(trace, stack: str) -> str:
    s = trace.stacks[stack]
    cells = {
        f"L{layer}": [f"e{int(np.argmax(row))} {row.max():.2f}" for row in s.word_probs[li]]
        for li, layer in enumerate(s.layers)
    }
    frame = pd.DataFrame(cells, index=pd.Index(trace.words, name="word"))
    return frame.to_string()


def cmd_trace(args: argparse.Namespace) -> int:
    from core.cache import TraceCache
    from core.tracer import Tracer

    if not args.text:
        raise RoutingLensError("Give at least one --text to trace.")
    stacks = tuple(s.strip() for s in args.stacks.split(",") if s.strip())
    bad = [s for s in stacks if s not in ("encoder", "decoder")]
    if bad or not stacks:
        raise RoutingLensError(f"--stacks takes encoder, decoder or encoder,decoder (got {args.stacks!r}).")
    loaded = load_for_cli(args.model, args)
    tracer = Tracer(loaded, cache=None if args.no_cache else TraceCache(), max_tokens=args.max_tokens)
    traces = tracer.trace(args.text, stacks=stacks)
    for trace in traces:
        if args.json:
            print(json.dumps(trace.to_json(), ensure_ascii=False))
            continue
        print(f"\ntext: {trace.text}")
        if trace.truncated:
            print(f"(truncated to {len(trace.tokens)} of {trace.n_input_tokens} tokens)")
        print("tokens: " + " ".join(trace.tokens))
        for stack in trace.stacks:
            note = ""
            if stack == "decoder":
                note = (" (read where the token is the decoder's input, teacher forcing)" if loaded.family == "switch"
                        else " (decoder-only: left context only)")
            print(f"\n{stack}: top-1 expert and its probability per word and sparse layer{note}"
                  + (f"; the model uses its top-{loaded.top_k} (see --json 'selected')" if loaded.top_k > 1 else ""))
            print(_summary_table(trace, stack))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Routing Lens: trace and measure MoE routing.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("trace", help="trace router probabilities of one or more texts")
    add_model_args(p)
    p.add_argument("--text", action="append", help="text to trace; repeat for several")
    p.add_argument("--stacks", default="encoder,decoder", help="encoder, decoder or encoder,decoder")
    p.add_argument("--max-tokens", type=int, default=512, help="longer texts are truncated (default 512)")
    p.add_argument("--json", action="store_true", help="one JSON object per text")
    p.set_defaults(func=cmd_trace)

    for register in _extra_commands():
        register(sub)
    return parser


def _extra_commands():
    """Sub-commands living in their own modules (imported lazily so `trace` starts fast)."""
    from core import cli_extra

    return cli_extra.REGISTRARS


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_transformers()
    try:
        return int(args.func(args) or 0)
    except RoutingLensError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
