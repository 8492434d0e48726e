"""`python -m core ablate`: remove one expert at a time and measure the loss it costs, per domain and token class."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.cli.common import add_model_args, load_for_cli
from core.errors import InputError


def cmd_ablate(args: argparse.Namespace) -> int:
    from core.corpus.sources import check_source

    if args.max_tokens < 100:
        raise InputError("--max-tokens must be at least 100 (target tokens of the loss).")
    check_source(args.corpus)
    import pandas as pd

    from core.atomic_folder import write_folder
    from core.corpus.results import user_ablation_dir
    from core.corpus.sources import segments
    from core.studies.ablation import ablate, all_units, examples, observational_vs_causal
    from core.studies.saliency import reap, saliency_links

    if args.max_tokens < 100:
        raise InputError("--max-tokens must be at least 100 (target tokens of the loss).")
    loaded = load_for_cli(args.model, args, lm_head=True)
    units = all_units(loaded, args.stack, args.layer, args.expert)
    out = Path(args.out) if args.out else user_ablation_dir(loaded.name)
    sample = segments(args.corpus, Path(args.data_dir) if args.data_dir else None, every=args.every)
    started = time.time()
    from core.progress import bar as progress_bar

    bar = progress_bar(len(units), f"{loaded.name}: experts removed", "expert")
    ex = examples(loaded, sample, args.max_tokens, args.seed)
    frame = ablate(loaded, [], units, args.max_tokens, args.seed, lambda done, _n: bar.update(done - bar.n), ex=ex)
    bar.close()
    tables = {"ablation": frame}
    stats = None
    if args.stats:
        folder = Path(args.stats)
        stats = pd.read_parquet(folder / "domain.parquet"), pd.read_parquet(folder / "load.parquet")
        tables["observational_vs_causal"] = observational_vs_causal(frame, *stats)
    try:  # REAP saliency on the same windows, beside Δloss (and the lift)
        tables["saliency"] = reap(loaded, ex)
        tables["saliency_links"] = saliency_links(tables["saliency"], frame, *(stats or (None, None)))
    except InputError as err:
        print(f"note: {err}", file=sys.stderr)

    def fill(tmp: Path) -> None:
        for name, table in tables.items():
            table.to_parquet(tmp / f"{name}.parquet", index=False, compression="zstd")

    write_folder(out, fill)
    overall = frame[frame.group_kind == "all"].sort_values("delta", ascending=False)
    print(f"wrote {', '.join(f'{n}.parquet' for n in tables)} to {out} in {time.time() - started:.0f} s "
          f"({len(units)} experts; {frame.objective.iloc[0]} loss {frame.base_loss.iloc[0]:.3f} intact)",
          file=sys.stderr)
    print("the experts whose removal hurts most (Δloss per token, 95% CI over windows):")
    for r in overall.head(args.top).itertuples():
        print(f"  {r.stack} layer {r.layer} e{r.expert}: {r.delta:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}]")
    if "observational_vs_causal" in tables:
        for r in tables["observational_vs_causal"].itertuples():
            print(f"observational vs causal, {r.stack} layer {r.layer}: Spearman ρ(domain lift, Δloss) {r.rho:+.3f} "
                  f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}] over {r.cells} (expert, domain) cells")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ablate", help="remove one expert at a time: the loss it costs per domain and token class")
    add_model_args(p)
    p.add_argument("--corpus", required=True, help="nltk:brown, a .txt/.jsonl/.parquet file, or hf:<dataset>")
    p.add_argument("--stack", choices=["encoder", "decoder"], default=None, help="only this stack's routers")
    p.add_argument("--layer", type=int, default=None, help="only this sparse block (default: every sparse layer)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--expert", type=int, default=None, help="only this expert")
    group.add_argument("--all", action="store_true", help="every expert (the default)")
    p.add_argument("--max-tokens", type=int, default=50_000, help="at most this many target tokens in the loss sample "
                                                               "(a bound: whole 64-token windows; default 50,000)")
    p.add_argument("--every", type=int, default=1, help="read every n-th corpus segment (for a very large source); "
                                                        "the sample is drawn at random from what is read")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample: the order segments are drawn in (which "
                                                        "fill --max-tokens) and, for Switch, the span corruption")
    p.add_argument("--stats", default=None, help="a corpus statistics folder (python -m core experts) of the same "
                                                 "model: adds the observational-vs-causal correlation")
    p.add_argument("--data-dir", default=None, help="where the NLTK corpora are (default: the data folder)")
    p.add_argument("--top", type=int, default=8, help="experts listed (default 8)")
    p.add_argument("--out", default=None, help="output folder (default cache/ablation/<model>)")
    p.set_defaults(func=cmd_ablate)
