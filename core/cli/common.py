"""What every sub-command shares: the model options and loading a model with a word to the user."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from core.models.loading import LoadedModel
from core.types import DECODER_READS, EXPERTS_KERNELS, PLACEMENTS

ProgressFactory = Callable[[str, int], Callable[[int], None]]


def add_model_args(p: argparse.ArgumentParser, multiple: bool = False) -> None:
    help_ = "registry name (e.g. demo-switch-8, google/switch-base-8), Hub id, or local folder"
    if multiple:
        p.add_argument("--model", action="append", help=help_ + "; repeat for several models")
    else:
        p.add_argument("--model", default=None, help=help_ + " (default: a cached google model, else the bundled demo)")
    p.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit)")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None,
                   help="default: float32, or half precision (with a note) only where float32 does not fit; "
                        "bfloat16 is the fast path, and can flip near-tie routing choices")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when available)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the trace cache")
    p.add_argument("--decoder-read", choices=DECODER_READS, default="input",
                   help="where a Switch decoder's routing of a token is read: input (default; where the token is the "
                        "decoder's input) or label (where it is predicted, the labels= layout)")
    p.add_argument("--experts-kernel", choices=EXPERTS_KERNELS, default="auto",
                   help="how experts are computed: auto (default: one grouped matmul over all experts where torch "
                        "has one), loop (the library's per-expert loop) or grouped; the numbers are the same")
    p.add_argument("--placement", choices=PLACEMENTS, default="auto",
                   help="auto (default): one device if it fits, else accelerate device_map across GPU and CPU, "
                        "8-/4-bit with bitsandbytes on a GPU, else disk offload; or force one of them")


def load_for_cli(name: str | None, args: argparse.Namespace, lm_head: bool = False) -> LoadedModel:
    """Load the model (default when none named) and tell the user which one is in use; `lm_head` for a loss."""
    from core.models.loading import load_model
    from core.models.registry import default_model_name

    chosen = name or default_model_name()
    loaded = load_model(chosen, revision=args.revision, device=args.device, dtype=args.dtype,
                        placement=getattr(args, "placement", "auto"),
                        experts_kernel=getattr(args, "experts_kernel", "auto"), lm_head=lm_head,
                        on_plan=lambda plan: print(f"plan: {plan.summary}", file=sys.stderr))
    copy = loaded.adapter.copy
    msg = (f"model: {loaded.name} ({loaded.params / 1e6:.1f}M params, {loaded.dtype}, {loaded.device}, experts: "
           f"{loaded.experts_kernel}) — {copy.label}")
    if loaded.entry.is_demo:
        msg += " — a teaching model trained by Routing Lens"
        if loaded.adapter.compares_with_paper:
            msg += "; the paper's checkpoints are one flag away: --model google/switch-base-8"
    print(msg, file=sys.stderr)
    for note in loaded.notes:
        print(f"note: {note}", file=sys.stderr)
    return loaded


def tqdm_progress(desc: str, total: int) -> Callable[[int], None]:
    """A progress bar per dataset and model (the analyses' ProgressFactory)."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="text", leave=True)

    def advance(n: int) -> None:
        bar.update(n)
        if bar.n >= total:
            bar.close()

    if total == 0:
        bar.close()
    return advance
