"""`python -m core trace`: router probabilities of one or more texts, as a table or JSON."""
from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from core.cli.common import add_model_args, load_for_cli
from core.errors import RoutingLensError
from core.settings import MAX_TOKENS
from core.types import DECODER_READ_NOTES, STACKS, Stack

if TYPE_CHECKING:
    from core.tracing.routing_trace import RoutingTrace


def _summary_table(trace: RoutingTrace, stack: Stack) -> str:
    import numpy as np
    import pandas as pd

    from core.viz.style import layer_name

    s = trace.stacks[stack]
    cells = {
        layer_name(layer): [f"e{int(np.argmax(row))} {row.max():.2f}" for row in s.word_probs[li]]
        for li, layer in enumerate(s.layers)
    }
    return pd.DataFrame(cells, index=pd.Index(trace.words, name="word")).to_string()


def cmd_trace(args: argparse.Namespace) -> int:
    if not args.text:
        raise RoutingLensError("Give at least one --text to trace.")
    empty = [i for i, t in enumerate(args.text, 1) if not t.strip()]
    if empty:
        raise RoutingLensError(f"Text {empty[0]} is empty. Type a sentence to trace.")
    stacks = tuple(s.strip() for s in args.stacks.split(",") if s.strip())
    if not stacks or any(s not in STACKS for s in stacks):
        raise RoutingLensError(f"--stacks takes encoder, decoder or encoder,decoder (got {args.stacks!r}).")
    from core.lens import Lens
    from core.tracing.cache import TraceCache
    from core.tracing.tracer import Tracer

    loaded = load_for_cli(args.model, args)
    tracer = Tracer(loaded, cache=None if args.no_cache else TraceCache(), max_tokens=args.max_tokens)
    for trace in Lens(tracer, decoder_read=args.decoder_read).trace(args.text, stacks):
        if args.json:
            print(json.dumps(trace.to_json(), ensure_ascii=False))
            continue
        print(f"\ntext: {trace.text}")
        if trace.truncated:
            print(f"(truncated to {len(trace.tokens)} of {trace.n_input_tokens} tokens)")
        print("tokens: " + " ".join(trace.tokens))
        for stack in trace.stacks:
            note = loaded.adapter.stack_note(stack)
            if stack == "decoder" and trace.decoder_read == "label":
                note = DECODER_READ_NOTES["label"] + " (--decoder-read label)"
            print(f"\n{stack}: top-1 expert and its probability per word and sparse layer"
                  + (f" ({note})" if note else "")
                  + (f"; the model uses its top-{loaded.top_k} (see --json 'selected')" if loaded.top_k > 1 else ""))
            print(_summary_table(trace, stack))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trace", help="trace router probabilities of one or more texts")
    add_model_args(p)
    p.add_argument("--text", action="append", help="text to trace; repeat for several")
    p.add_argument("--stacks", default="encoder,decoder", help="encoder, decoder or encoder,decoder")
    p.add_argument("--max-tokens", type=int, default=MAX_TOKENS,
                   help=f"longer texts are truncated (default {MAX_TOKENS})")
    p.add_argument("--json", action="store_true", help="one JSON object per text")
    p.set_defaults(func=cmd_trace)
