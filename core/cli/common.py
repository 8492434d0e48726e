"""What every sub-command shares: the model options and loading a model with a word to the user."""
from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import InputError
from core.types import DECODER_READS, EXPERTS_KERNELS, PLACEMENTS

if TYPE_CHECKING:  # torch and transformers load with the first command that needs a model, never for --help
    from core.models.loading import LoadedModel

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


SHORT_NAMES = re.compile(r"(moefied-minilm|minilm-router)-\d+|switch-(base|large|xxl)-\d+|switch-c-\d+")


def check_model_name(name: str | None) -> None:
    """Refuse, before torch loads, a model name that cannot resolve: not a bundled or trained demo, not a MoE-fied or
    routed MiniLM, not a folder, not a Hub id (organisation/name). The registry resolves everything else."""
    from core.settings import BUNDLED_MODELS_DIR, cache_dir

    if name is None or name.startswith("moefied:"):
        return
    if name.count("/") == 1 and not name.startswith((".", "/", "~")) and not Path(name).expanduser().exists():
        return  # a Hub id: organisation/name
    path = Path(name).expanduser()
    if path.exists() or SHORT_NAMES.fullmatch(name):
        return
    if name.startswith((".", "/", "~")) or os.sep in name:
        raise InputError(f"Model folder {name!r} does not exist. Give a folder with config.json and weights.")
    demos = sorted(p.name for root in (BUNDLED_MODELS_DIR, cache_dir() / "models") if root.is_dir()
                   for p in root.iterdir() if (p / "config.json").is_file() or p.name.startswith(("minilm-router", "lab-")))
    if name not in demos:
        raise InputError(f"Unknown model {name!r}. Bundled and trained here: {', '.join(demos) or 'none'}; or "
                         "moefied-minilm-8|32|128, a local folder, or a Hub id such as google/switch-base-8.")


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
    from core.progress import bar as progress_bar

    bar = progress_bar(total, desc, "text", leave=True)

    def advance(n: int) -> None:
        bar.update(n)
        if bar.n >= total:
            bar.close()

    if total == 0:
        bar.close()
    return advance


EXPERT_COUNT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")


def _folder_expert_count(folder: Path) -> int | None:
    import json

    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    config = config.get("text_config") or config if isinstance(config, dict) else {}
    return next((int(config[k]) for k in EXPERT_COUNT_KEYS if isinstance(config.get(k), int)), None)


def experts_before_loading(name: str | None) -> int | None:
    """How many experts the model can have, read without torch (a user error is refused in well under a second):
    the number in a MiniLM name, else config.json of a bundled, trained or local folder; with no model named, the
    most any bundled or trained demo has (the default is one of them unless a Hub checkpoint is cached: then None).
    None when only loading can tell (a Hub id); the engine checks again after loading."""
    from core.settings import BUNDLED_MODELS_DIR, cache_dir

    roots = (BUNDLED_MODELS_DIR, cache_dir() / "models")
    if name is None:
        from huggingface_hub import scan_cache_dir

        try:
            if scan_cache_dir().repos:  # a cached paper checkpoint would be the default
                return None
        except Exception:  # noqa: BLE001 - no cache folder: nothing cached
            pass
        counts = [c for root in roots if root.is_dir() for f in root.iterdir()
                  if (c := _folder_expert_count(f)) is not None]
        return max(counts) if counts else None
    if match := re.fullmatch(r"(?:moefied-minilm|minilm-router)-(\d+)", name):
        return int(match.group(1))
    for folder in [root / name for root in roots] + [Path(name).expanduser()]:
        if (folder / "config.json").is_file():
            return _folder_expert_count(folder)
    return None


def check_experts(name: str | None, experts: tuple[int, ...] | None, option: str) -> None:
    """Refuse expert numbers the model cannot have, before it loads."""
    if not experts:
        return
    if bad := [e for e in experts if e < 0]:
        raise InputError(f"{option} {bad[0]}: experts are numbered from 0.")
    count = experts_before_loading(name)
    if count is not None and (bad := [e for e in experts if e >= count]):
        which = f"{name} has" if name else "the default model has at most"
        raise InputError(f"{option} {bad[0]}: {which} {count} experts, numbered 0–{count - 1}.")
