"""The models a user can pick: bundled and locally trained demos, the MoE-fied MiniLM, the google Switch
checkpoints, the smallest public checkpoint of each decoder-only family, any local folder or Hub id."""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.errors import ModelNotAvailableError, UnsupportedModelError
from core.models.adapters import DECODER_FAMILIES, MOEFIED_CAVEAT, family_info, family_of_model_type
from core.models.adapters.switch_catalogue import (
    HUB_EXPERT_COUNTS,
    HUB_PARAMS,
    LARGE_SWITCH,
    PAPER_CHECKPOINTS,
    paper_checkpoint,
)
from core.models.hub import hub_model_cached
from core.settings import BUNDLED_MODELS_DIR, cache_dir
from core.types import Architecture, Family

Source = Literal["bundled", "trained", "hub", "local", "moefied"]
MOEFIED_PREFIX = "moefied:"  # "moefied:<folder or Hub id>@<experts>" MoE-fies any BERT-style checkpoint
MOEFIED_MINILM_PARAMS = 22_713_216
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class ModelEntry:
    """One model the user can pick."""

    name: str  # what the user types: "demo-switch-8", "google/switch-base-8", a folder path
    source: Source
    location: str  # Hub id or folder path
    num_experts: int | None = None
    params: int | None = None
    description: str = ""
    family: Family = "switch"  # "" while a Hub id's family is not known yet (learnt from its config on load)
    params_approx: bool = False  # params rounded as the model card gives them
    routers: str = ""  # a MoE-fied entry with trained routers: their folder (models/minilm-router-E)

    @property
    def architecture(self) -> Architecture:
        return family_info(self.family).architecture

    @property
    def is_paper_checkpoint(self) -> bool:
        """One of the checkpoints the paper measured: only these are set beside its published values."""
        return self.source == "hub" and self.location in PAPER_CHECKPOINTS

    @property
    def is_demo(self) -> bool:
        return self.source in ("bundled", "trained")

    @property
    def from_hub(self) -> bool:
        """Downloaded from the Hugging Face Hub on first use."""
        return self.source == "hub"

    @property
    def moefied(self) -> bool:
        """A dense encoder MoE-fied on load (core.models.adapters.moefied.MoefiedSource says how)."""
        return self.source == "moefied"

    @property
    def offline(self) -> bool:
        """Nothing to download: a bundled demo or a MoE-fied model of the packaged encoder."""
        return self.source in ("bundled", "moefied")


def folder_config(folder: Path) -> dict:
    """config.json of a folder as a dict ({} when missing or unreadable): enough to list it without loading. Parsed
    once per file version (path, time, size): the model picker lists every folder on each page view."""
    path = folder / "config.json"
    try:
        stat = path.stat()
    except OSError:
        return {}
    return _parsed_config(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _parsed_config(path: str, mtime_ns: int, size: int) -> dict:
    """Read-only by convention: only registry.py reads it, and only with .get."""
    try:
        config = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _folder_family(folder: Path) -> str:
    return family_of_model_type(folder_config(folder).get("model_type", ""))


def _folder_experts(folder: Path) -> int | None:
    config = folder_config(folder)
    family = DECODER_FAMILIES.get(family_of_model_type(config.get("model_type", "")))
    config = config.get("text_config") or config  # a multimodal MoE's experts live in its text tower
    from core.models.adapters.families import config_value

    try:
        return int(config_value(config, family.experts_attr if family else "num_experts"))
    except (TypeError, ValueError):
        return None


def has_weights(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any((folder / w).is_file() for w in WEIGHT_FILES)


def _demo_entries(root: Path, source: Source) -> list[ModelEntry]:
    if not root.is_dir():
        return []
    folders = [f for f in root.iterdir() if has_weights(f)]
    # The default family's demos first (the default model is the first one), then by expert count.
    folders.sort(key=lambda p: (not family_info(_folder_family(p)).sorts_first, _folder_experts(p) or 0, p.name))
    entries = []
    for folder in folders:
        info = family_info(_folder_family(folder))
        entries.append(ModelEntry(name=folder.name, source=source, location=str(folder),
                                  num_experts=_folder_experts(folder), family=info.name,
                                  description=f"{info.demo_kind} trained by this project (a teaching model, not the "
                                              "paper's)"))
    return entries


ROUTED_PREFIX = "minilm-router-"
CONTEXT_DEFAULT_FILE = BUNDLED_MODELS_DIR / "context_default.json"  # written by `train-router --choose-default`


def routed_minilm_entries() -> list[ModelEntry]:
    """all-MiniLM-L6-v2 with trained routers: one per folder models/minilm-router-E (bundled, rebuilt by
    `python -m core train-router`), by expert count."""
    from core.models.adapters import ROUTED_FAMILY
    from core.models.moefy import PACKAGED_NAME

    folders = sorted((f for f in BUNDLED_MODELS_DIR.glob(f"{ROUTED_PREFIX}*") if (f / "router.json").is_file()
                      and f.name[len(ROUTED_PREFIX):].isdigit()), key=lambda f: int(f.name[len(ROUTED_PREFIX):]))
    return [ModelEntry(name=f.name, source="moefied", location=PACKAGED_NAME, num_experts=int(f.name[len(ROUTED_PREFIX):]),
                       params=MOEFIED_MINILM_PARAMS, family=ROUTED_FAMILY, routers=str(f),
                       description="all-MiniLM-L6-v2 (pretrained dense) with routers trained afterwards; top-k sparse")
            for f in folders]


LAB_PREFIX = "lab-"  # the routing lab's designs (models/lab-<design>/, written by `python -m core lab`)


def lab_entries() -> list[ModelEntry]:
    """The routing lab's router designs over all-MiniLM-L6-v2 (models/lab-*/router.json names its design)."""
    from core.models.adapters import ROUTED_FAMILY
    from core.models.moefy import PACKAGED_NAME
    from core.models.router_designs import LABELS

    entries = []
    for f in sorted(BUNDLED_MODELS_DIR.glob(f"{LAB_PREFIX}*")):
        try:
            s = json.loads((f / "router.json").read_text())["settings"]
            experts, top_k, design = int(s["experts"]), int(s["top_k"]), str(s.get("design", "softmax"))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        entries.append(ModelEntry(name=f.name, source="moefied", location=PACKAGED_NAME, num_experts=experts,
                                  params=MOEFIED_MINILM_PARAMS, family=ROUTED_FAMILY, routers=str(f),
                                  description=f"routing lab: all-MiniLM-L6-v2 routed by {LABELS.get(design, design)}, "
                                              f"top-{top_k} of {experts}"))
    return entries


NLLB_MOE_SMALLEST = "facebook/nllb-moe-54b"


def list_models() -> list[ModelEntry]:
    """Bundled demos first, then demos trained locally into cache/models/, the MoE-fied MiniLM, the google
    Switch checkpoints, then the smallest public checkpoint of each decoder-only family."""
    from core.models.moefy import EXPERT_COUNTS, PACKAGED_NAME

    entries = _demo_entries(BUNDLED_MODELS_DIR, "bundled") + _demo_entries(cache_dir() / "models", "trained")
    entries += [ModelEntry(name=f"moefied-minilm-{e}", source="moefied", location=PACKAGED_NAME, num_experts=e,
                           params=MOEFIED_MINILM_PARAMS, family="moefied",
                           description=f"all-MiniLM-L6-v2, {MOEFIED_CAVEAT}") for e in EXPERT_COUNTS]
    entries += routed_minilm_entries() + lab_entries()
    entries += [ModelEntry(name=paper_checkpoint(e), source="hub", location=paper_checkpoint(e),
                           num_experts=e, params=HUB_PARAMS[e],
                           description="the paper's checkpoint (Hugging Face Hub; downloaded on first use)")
                for e in HUB_EXPERT_COUNTS]
    entries += [ModelEntry(name=hub_id, source="hub", location=hub_id, num_experts=int(hub_id.rsplit("-", 1)[1]),
                           params=params, params_approx=True,
                           description="larger Switch checkpoint (not in the paper's study); loads with device_map / "
                                       "disk offload where it does not fit")
                for hub_id, params in LARGE_SWITCH.items()]
    entries += [ModelEntry(name=fam.smallest, source="hub", location=fam.smallest, params=fam.smallest_params,
                           params_approx=True, family=fam.name,
                           description=f"{fam.label}: smallest public checkpoint, decoder-only (left context only)")
                for fam in DECODER_FAMILIES.values()]
    entries.append(ModelEntry(name=NLLB_MOE_SMALLEST, source="hub", location=NLLB_MOE_SMALLEST, num_experts=128,
                              params=54_500_000_000, params_approx=True, family="nllb_moe",
                              description="NLLB-MoE: the only public checkpoint, encoder–decoder, top-2 routing"))
    return entries


def _missing_folder(name: str) -> UnsupportedModelError:
    return UnsupportedModelError(f"Model folder {name!r} does not exist. Give a folder with config.json and weights.")


def _resolve_moefied(name: str) -> ModelEntry:
    target, _, experts = name[len(MOEFIED_PREFIX):].rpartition("@")
    if not target or not experts.isdigit() or int(experts) < 2:
        raise ModelNotAvailableError(f"Write a MoE-fied model as moefied:<folder or Hub id>@<experts>, e.g. "
                                     f"moefied:bert-base-uncased@16 (got {name!r}).")
    path = Path(target).expanduser()
    if not path.exists() and target.startswith((".", "/", "~")):
        raise _missing_folder(target)
    return ModelEntry(name=name, source="moefied", location=str(path.resolve()) if path.exists() else target,
                      num_experts=int(experts), family="moefied")


def resolve(name: str) -> ModelEntry:
    """Turn what the user typed (registry name, short name, folder, Hub id) into an entry."""
    name = name.strip()
    if not name:
        raise ModelNotAvailableError("No model name given. Pick one of: " + ", ".join(e.name for e in list_models()))
    if name.startswith(MOEFIED_PREFIX):
        return _resolve_moefied(name)
    for entry in list_models():
        if name == entry.name or (entry.source == "hub" and (name == entry.location or f"google/{name}" == entry.name)):
            return entry
    path = Path(name).expanduser()
    if path.exists() or name.startswith((".", "/", "~")) or (os.sep in name and name.count("/") != 1):
        if not path.is_dir():
            raise _missing_folder(name)
        return ModelEntry(name=str(path), source="local", location=str(path.resolve()),
                          num_experts=_folder_experts(path), family=_folder_family(path))
    if name.count("/") == 1:
        return ModelEntry(name=name, source="hub", location=name, family="")
    known = ", ".join(e.name for e in list_models())
    raise ModelNotAvailableError(f"Unknown model {name!r}. Known models: {known}; or give a local folder or a Hub id.")


def default_model_name() -> str:
    """A cached google checkpoint of the paper when there is one, else the first bundled demo."""
    entries = list_models()
    for entry in entries:  # the paper's checkpoints only (not the large Switch or decoder-only ones)
        if entry.name.startswith("google/switch-base-") and hub_model_cached(entry.location):
            return entry.name
    demos = [e for e in entries if e.is_demo]
    if demos:
        return demos[0].name
    raise ModelNotAvailableError(
        "No model is available offline: no bundled demo under models/ and no google/switch-base-N in the "
        "Hugging Face cache. Train one with `python -m core train-demo --experts 8 --out models/demo-switch-8`."
    )


def context_default_name() -> str:
    """Compare's and Learn's default: a cached google checkpoint of the paper when there is one, else the model with a
    trained router whose routing responds to context best on WiC dev (models/context_default.json, written by a
    seeded evaluation: `python -m core train-router --choose-default`), else the general default."""
    first = default_model_name()
    if first.startswith("google/"):
        return first
    try:
        chosen = json.loads(CONTEXT_DEFAULT_FILE.read_text()).get("model", "")
    except (OSError, ValueError, AttributeError):
        return first
    return chosen if any(e.name == chosen for e in list_models()) else first


def check_local_folder(folder: Path) -> None:
    if not (folder / "config.json").is_file():
        raise UnsupportedModelError(f"{folder} has no config.json, so it is not a model checkpoint folder.")
    if not any((folder / w).is_file() for w in WEIGHT_FILES):
        raise UnsupportedModelError(f"{folder} has a config.json but no weights ({', '.join(WEIGHT_FILES)}).")
