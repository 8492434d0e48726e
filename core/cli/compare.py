"""`python -m core compare`: one word in two sentences (and a same-meaning control), the verdict Compare shows, the
JSS per sparse layer and the reference it was judged against."""
from __future__ import annotations

import argparse
import json

from core.cli.common import add_model_args, load_for_cli
from core.errors import InputError


def _occurs(sentence: str, word: str, which: str) -> None:
    from core.tracing.words import find_word

    if not sentence.strip():
        raise InputError(f"{which} is empty: give a sentence.")
    if not find_word(sentence, word):
        raise InputError(f"“{word}” does not occur in {which}.")


def cmd_compare(args: argparse.Namespace) -> int:
    word = (args.word or "").strip()
    if not word:
        raise InputError("Give the word to compare with --word.")
    _occurs(args.sentence1, word, "sentence 1")
    _occurs(args.sentence2, word, "sentence 2")
    if args.control is not None:
        _occurs(args.control, word, "the control (--control)")
    from core.lens import Lens
    from core.models.registry import context_default_name
    from core.tracing.cache import TraceCache
    from core.tracing.tracer import Tracer
    from core.viz.style import layer_name

    loaded = load_for_cli(args.model or context_default_name(), args)
    lens = Lens(Tracer(loaded, cache=None if args.no_cache else TraceCache()), decoder_read=args.decoder_read)
    pair = lens.compare(args.sentence1, args.sentence2, word, control=args.control)
    layers = []
    for stack, comp in pair.stacks.items():
        control = (pair.control or {}).get(stack)
        for i, layer in enumerate(comp.layers):
            layers.append({"stack": stack, "layer": int(layer), "jss": round(float(comp.jss[i]), 6)}
                          | ({"jss_control": round(float(control.jss[i]), 6)} if control is not None else {}))
    if args.json:
        print(json.dumps({
            "model": loaded.name, "word": word, "verdict": pair.headline(),
            "evidence": pair.ordering[0].evidence() if pair.ordering else None,
            "mean_jss": pair.mean_jss, "mean_jss_control": pair.control_jss or None, "layers": layers,
            "reference": [{"stack": v.stack, "kind": "short same-meaning pairs of the classic homonyms (own triplet "
                           "left out)", "more_different_than_same": v.more_different_than_same,
                           "more_different_than_different": v.more_different_than_different, "n_same": v.n_same,
                           "n_different": v.n_different, "level": v.level} for v in pair.verdicts]},
            ensure_ascii=False))
        return 0
    print(pair.headline().replace("*", ""))
    if pair.ordering:
        print(pair.ordering[0].evidence())
    print()
    for v in pair.verdicts:
        print("reference: " + v.sentence())
    print()
    header = "stack     layer      JSS" + ("  JSS control" if pair.control else "")
    print(header)
    for row in layers:
        line = f"{row['stack']:<9} {layer_name(row['layer']):<9} {row['jss']:.3f}"
        print(line + (f"  {row['jss_control']:.3f}" if "jss_control" in row else ""))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="one word in two sentences (and a same-meaning control): the verdict, the "
                                       "JSS per layer and the reference")
    add_model_args(p)
    p.add_argument("sentence1", help="the base sentence")
    p.add_argument("sentence2", help="the partner (another meaning?)")
    p.add_argument("--word", required=True, help="the word to compare (its first occurrence in each sentence)")
    p.add_argument("--control", default=None,
                   help="a sentence where the word keeps sentence 1's meaning: the verdict is then the paper's own "
                        "contrast (which partner routed it further apart)")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_compare)
