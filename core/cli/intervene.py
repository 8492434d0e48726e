"""`python -m core intervene`: write to routing and measure what changes downstream (core.tracing.interventions,
core.studies.outcomes / counterfactual / swap / steering), with CSV or Parquet output."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli.common import add_model_args, check_experts, load_for_cli
from core.errors import InputError


def _ints(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise InputError(f"{text!r} is not a comma-separated list of integers (e.g. 3 or 1,4).") from None


def _write(frame, out: str | None) -> None:
    if out is None:
        print(frame.to_string(index=False))
        return
    path = Path(out)
    if path.suffix not in (".csv", ".parquet"):
        raise InputError(f"--out {out}: name a .csv or .parquet file.")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False) if path.suffix == ".parquet" else frame.to_csv(path, index=False)
    print(f"wrote {len(frame)} rows to {out}", file=sys.stderr)


def cmd_intervene(args: argparse.Namespace) -> int:
    from core.tracing.words import find_word

    kinds = [k for k in ("force", "ban", "top_k", "steer", "counterfactuals", "swap") if getattr(args, k) is not None
             and getattr(args, k) is not False]
    if len(kinds) != 1:
        raise InputError("Choose exactly one of --force, --ban, --top-k, --steer, --counterfactuals, --swap.")
    if not (args.text or "").strip():
        raise InputError("Give the text to intervene on with --text.")
    if args.out is not None and Path(args.out).suffix not in (".csv", ".parquet"):
        raise InputError(f"--out {args.out}: name a .csv or .parquet file.")
    layers, tokens = _ints(args.layer), _ints(args.token)  # every option checked before the model loads
    kind = kinds[0]
    experts = _ints(getattr(args, kind)) if kind in ("force", "ban", "steer") else ()
    check_experts(args.model, experts, f"--{kind}")
    if args.samples < 0 or args.horizon < 1:
        raise InputError("--samples must be 0 or more and --horizon 1 or more.")
    if kind == "top_k" and args.top_k < 1:
        raise InputError(f"--top-k {args.top_k}: choose at least one expert.")
    if kind == "counterfactuals" and (not layers or not tokens or len(layers) != 1 or len(tokens) != 1):
        raise InputError("--counterfactuals scans one token at one layer: give --token T and --layer L.")
    if kind == "swap":
        sentence1, word = args.swap
        spans = [find_word(t, word) for t in (sentence1, args.text)]
        if not all(spans):
            raise InputError(f"“{word}” must occur in both sentences (--swap SENTENCE1 WORD, --text SENTENCE2).")
    from core.studies.counterfactual import scan
    from core.studies.outcomes import outcome
    from core.studies.swap import swap_outcome
    from core.tracing.interventions import Intervention

    loaded = load_for_cli(args.model, args, lm_head=True)
    stack = args.stack or loaded.adapter.stacks[-1]
    if kind == "counterfactuals":
        _write(scan(loaded, args.text, tokens[0], layers[0], stack, args.horizon, decoder_read=args.decoder_read,
                    samples=args.samples, seed=args.seed), args.out)
        return 0
    if kind == "swap":  # every sparse layer of every stack, or the one --layer (of --stack) asked for
        if layers and len(layers) != 1:
            raise InputError("--swap copies the route at every sparse layer, or at the one --layer given.")
        at = (stack, layers[0]) if layers else None
        if at is not None and at[1] not in dict(loaded.adapter.routers(loaded.model).get(stack, [])):
            raise InputError(f"{loaded.name} has no sparse {stack} block {at[1]}.")
        result = swap_outcome(loaded, sentence1, args.text, spans[0][0], spans[1][0], layer=at)
    else:
        iv = Intervention(kind, stack, layers, tokens, experts or (), k=args.top_k, strength=args.strength,
                          decoder_read=args.decoder_read)
        result = outcome(loaded, args.text, [iv])
    print("; ".join(result.interventions), file=sys.stderr)
    print(f"mean KL from the original {result.mean_kl:.4g}; loss {result.loss_before:.4f} → {result.loss_after:.4f}",
          file=sys.stderr)
    frame = result.frame.assign(intervention="; ".join(result.interventions))
    _write(frame, args.out)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("intervene", help="force, ban, swap or steer experts and measure what changes downstream")
    add_model_args(p)
    p.add_argument("--text", required=True, help="the text to intervene on (sentence 2 of a --swap)")
    what = p.add_argument_group("the intervention (exactly one)")
    what.add_argument("--force", default=None, help="send the tokens to these experts (e.g. 5 or 1,4)")
    what.add_argument("--ban", default=None, help="never choose these experts")
    what.add_argument("--top-k", type=int, default=None, help="choose this many experts (top-k models)")
    what.add_argument("--steer", default=None, help="add --strength to these experts' router logits")
    what.add_argument("--counterfactuals", action="store_true", default=None,
                      help="score every alternative route for --token at --layer by the next token's loss")
    what.add_argument("--swap", nargs=2, metavar=("SENTENCE1", "WORD"), default=None,
                      help="route WORD in --text as it was routed in SENTENCE1, at every sparse layer")
    p.add_argument("--strength", type=float, default=0.0, help="--steer: the logit change (default 0: the identity)")
    p.add_argument("--stack", choices=["encoder", "decoder"], default=None, help="which stack (default: the last)")
    p.add_argument("--layer", default=None, help="sparse blocks, e.g. 1 or 1,3 (default: every sparse layer)")
    p.add_argument("--token", default=None, help="token rows, e.g. 4 or 2,5 (default: every token)")
    p.add_argument("--horizon", type=int, default=1, help="--counterfactuals: next tokens scored (default 1)")
    p.add_argument("--samples", type=int, default=0, help="--counterfactuals: routes sampled from the router's "
                                                          "distribution beside the one-swap neighbourhood (default 0)")
    p.add_argument("--seed", type=int, default=0, help="--counterfactuals: seed of the sampled routes")
    p.add_argument("--out", default=None, help="a .csv or .parquet file (default: print the table)")
    p.set_defaults(func=cmd_intervene)
