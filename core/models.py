"""Model registry and loading: bundled demos, Switch and decoder-only MoE checkpoints from the Hub, local folders.

Loading is always `from_pretrained` (never `trust_remote_code`). Before any weight is read, the
memory a model needs is estimated from its config alone and a placement is chosen (core/placement.py):
one device, accelerate's device_map across GPU and CPU, 8-/4-bit with bitsandbytes, or disk offload.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

import torch
from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM, AutoTokenizer, PretrainedConfig

from core.adapters import DECODER_FAMILIES, MODEL_TYPE_FAMILY, DecoderOnlyAdapter, MoefiedAdapter, SwitchAdapter, family_of
from core.devices import DTYPES, available_memory, pick_device, pick_dtype
from core.errors import ModelNotAvailableError, NotASwitchModelError
from core.paths import BUNDLED_MODELS_DIR, cache_dir
from core.placement import Budget, LoadPlan, bitsandbytes_available, disk_free, plan_placement
from core.placement import estimate_bytes  # noqa: F401 - re-exported for the app and tests

SUPPORTED_MODEL_TYPES = ("switch_transformers", *MODEL_TYPE_FAMILY)
MOEFIED_MODEL_TYPES = ("bert",)  # dense encoders that can be MoE-fied (encoder.layer[i].intermediate)
MOEFIED_PREFIX = "moefied:"  # "moefied:<folder or Hub id>@<experts>" MoE-fies any BERT-style checkpoint
HUB_EXPERT_COUNTS = (8, 16, 32, 64, 128)
# Exact parameter counts of google/switch-base-N (= count_parameters(switch_base_config(N)); DESIGN §1 rounds
# them to 0.62B … 7.4B), shown with a memory estimate before anything is downloaded.
HUB_PARAMS = {8: 619_339_008, 16: 1_072_397_568, 32: 1_978_514_688, 64: 3_790_748_928, 128: 7_415_217_408}
# The larger Switch checkpoints, with the sizes Fedus et al. (2022, Table 9) give; they need device_map / offload.
LARGE_SWITCH = {"google/switch-large-128": 26_000_000_000, "google/switch-xxl-128": 395_000_000_000,
                "google/switch-c-2048": 1_571_000_000_000}
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class ModelEntry:
    """One model the user can pick."""

    name: str  # what the user types: "demo-switch-8", "google/switch-base-8", a folder path
    source: str  # "bundled", "trained", "hub" or "local"
    location: str  # Hub id or folder path
    num_experts: int | None = None
    params: int | None = None
    description: str = ""
    family: str = "switch"  # "switch", "moefied" or a decoder-only family (core.adapters.DECODER_FAMILIES)
    params_approx: bool = False  # params rounded as the model card gives them

    @property
    def architecture(self) -> str:
        if self.family == "switch":
            return "encoder-decoder"
        return "encoder (MoE-fied)" if self.family == "moefied" else "decoder-only"

    @property
    def is_demo(self) -> bool:
        return self.source in ("bundled", "trained")


def _folder_config(folder: Path) -> dict:
    """config.json of a folder as a dict ({} when missing or unreadable): enough to list it without loading."""
    import json

    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _folder_family(folder: Path) -> str:
    model_type = _folder_config(folder).get("model_type", "")
    return "switch" if model_type == "switch_transformers" else getattr(MODEL_TYPE_FAMILY.get(model_type), "name", "")


def _folder_experts(folder: Path) -> int | None:
    config = _folder_config(folder)
    family = MODEL_TYPE_FAMILY.get(config.get("model_type", ""))
    try:
        return int(config[family.experts_attr if family else "num_experts"])
    except (KeyError, TypeError, ValueError):
        return None


def _demo_entries(root: Path, source: str) -> list[ModelEntry]:
    if not root.is_dir():
        return []
    entries = []
    # Switch demos first (the default model is the first one), then by expert count.
    for folder in sorted(root.iterdir(), key=lambda p: (_folder_family(p) != "switch", _folder_experts(p) or 0, p.name)):
        if (folder / "config.json").is_file() and any((folder / w).is_file() for w in WEIGHT_FILES):
            family = _folder_family(folder) or "switch"
            kind = ("tiny Switch Transformer" if family == "switch"
                    else f"tiny decoder-only {DECODER_FAMILIES[family].label.split(' (')[0]}-type MoE")
            entries.append(
                ModelEntry(
                    name=folder.name,
                    source=source,
                    location=str(folder),
                    num_experts=_folder_experts(folder),
                    description=f"{kind} trained by this project (a teaching model, not the paper's)",
                    family=family,
                )
            )
    return entries


def list_models() -> list[ModelEntry]:
    """Bundled demos first, then demos trained locally into cache/models/, the MoE-fied MiniLM, the google
    Switch checkpoints, then the smallest public checkpoint of each decoder-only family."""
    from core.moefy import EXPERT_COUNTS, PACKAGED_NAME

    entries = _demo_entries(BUNDLED_MODELS_DIR, "bundled") + _demo_entries(cache_dir() / "models", "trained")
    for e in EXPERT_COUNTS:
        entries.append(ModelEntry(name=f"moefied-minilm-{e}", source="moefied", location=PACKAGED_NAME, num_experts=e,
                                  params=22_713_216, family="moefied",
                                  description="all-MiniLM-L6-v2, dense model MoE-fied after training; routing = "
                                              "activation mass per neuron cluster; not a sparsely trained model"))
    for e in HUB_EXPERT_COUNTS:
        entries.append(
            ModelEntry(
                name=f"google/switch-base-{e}",
                source="hub",
                location=f"google/switch-base-{e}",
                num_experts=e,
                params=HUB_PARAMS[e],
                description="the paper's checkpoint (Hugging Face Hub; downloaded on first use)",
            )
        )
    for hub_id, params in LARGE_SWITCH.items():
        experts = int(hub_id.rsplit("-", 1)[1])
        entries.append(ModelEntry(name=hub_id, source="hub", location=hub_id, num_experts=experts, params=params,
                                  params_approx=True, description="larger Switch checkpoint (not in the paper's "
                                  "study); loads with device_map / disk offload where it does not fit"))
    for fam in DECODER_FAMILIES.values():
        entries.append(ModelEntry(name=fam.smallest, source="hub", location=fam.smallest, params=fam.smallest_params,
                                  params_approx=True, family=fam.name,
                                  description=f"{fam.label}: smallest public checkpoint, decoder-only (left context only)"))
    return entries


def resolve(name: str) -> ModelEntry:
    """Turn what the user typed (registry name, short name, folder, Hub id) into an entry."""
    name = name.strip()
    if not name:
        raise ModelNotAvailableError("No model name given. Pick one of: " + ", ".join(e.name for e in list_models()))
    if name.startswith(MOEFIED_PREFIX):
        target, _, experts = name[len(MOEFIED_PREFIX):].rpartition("@")
        if not target or not experts.isdigit() or int(experts) < 2:
            raise ModelNotAvailableError(f"Write a MoE-fied model as moefied:<folder or Hub id>@<experts>, e.g. "
                                         f"moefied:bert-base-uncased@16 (got {name!r}).")
        path = Path(target).expanduser()
        if not path.exists() and target.startswith((".", "/", "~")):
            raise NotASwitchModelError(f"Model folder {target!r} does not exist. Give a folder with config.json and weights.")
        return ModelEntry(name=name, source="moefied", location=str(path.resolve()) if path.exists() else target,
                          num_experts=int(experts), family="moefied")
    for entry in list_models():
        if name == entry.name or (entry.source == "hub" and (name == entry.location or f"google/{name}" == entry.name)):
            return entry
    path = Path(name).expanduser()
    if path.exists() or name.startswith((".", "/", "~")) or os.sep in name and name.count("/") != 1:
        if not path.is_dir():
            raise NotASwitchModelError(f"Model folder {name!r} does not exist. Give a folder with config.json and weights.")
        return ModelEntry(name=str(path), source="local", location=str(path.resolve()), num_experts=_folder_experts(path),
                          family=_folder_family(path))
    if name.count("/") == 1:
        return ModelEntry(name=name, source="hub", location=name, family="")
    known = ", ".join(e.name for e in list_models())
    raise ModelNotAvailableError(f"Unknown model {name!r}. Known models: {known}; or give a local folder or a Hub id.")


def hub_model_cached(repo_id: str, revision: str | None = None) -> bool:
    """True when the Hub model's config is already in the local Hugging Face cache."""
    try:
        AutoConfig.from_pretrained(repo_id, revision=revision, local_files_only=True, trust_remote_code=False)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not usable offline"
        return False


def default_model_name() -> str:
    """A cached google checkpoint when there is one, else the smallest bundled demo."""
    entries = list_models()
    for entry in entries:  # the paper's checkpoints only (not the large Switch or decoder-only ones)
        if entry.source == "hub" and entry.name.startswith("google/switch-base-") and hub_model_cached(entry.location):
            return entry.name
    demos = [e for e in entries if e.is_demo]
    if demos:
        return demos[0].name
    raise ModelNotAvailableError(
        "No model is available offline: no bundled demo under models/ and no google/switch-base-N in the "
        "Hugging Face cache. Train one with `python -m core train-demo --experts 8 --out models/demo-switch-8`."
    )


def _check_local_folder(folder: Path) -> None:
    if not (folder / "config.json").is_file():
        raise NotASwitchModelError(f"{folder} has no config.json, so it is not a model checkpoint folder.")
    if not any((folder / w).is_file() for w in WEIGHT_FILES):
        raise NotASwitchModelError(
            f"{folder} has a config.json but no weights ({', '.join(WEIGHT_FILES)})."
        )


_HUB_CHECK: dict[str, tuple[float, bool]] = {}  # endpoint -> (when, reachable)
HUB_CHECK_TTL_S = 60.0


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check of the Hub endpoint, so an offline machine fails in seconds, not after retries.
    An "unreachable" answer is remembered for a minute, so an app rerun does not wait again."""
    import socket
    import time
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    seen = _HUB_CHECK.get(endpoint)
    if seen and not seen[1] and time.monotonic() - seen[0] < HUB_CHECK_TTL_S:
        return False
    url = urlparse(endpoint)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            reachable = True
    except OSError:
        reachable = False
    _HUB_CHECK[endpoint] = (time.monotonic(), reachable)
    return reachable


def _offline_message(entry: ModelEntry, cause: BaseException) -> str:
    text = f"{type(cause).__name__}: {cause}"
    if "GatedRepo" in text or "gated repo" in text.lower() or " 401 " in text or " 403 " in text:
        return (f"{entry.location!r} is a gated repository on the Hugging Face Hub: accept its licence on "
                f"https://huggingface.co/{entry.location} and log in on this machine (`hf auth login`, or set "
                "HF_TOKEN), then load it again.")
    if "RepositoryNotFound" in text or " 404 " in text or "not a valid model identifier" in text:
        return (f"There is no model {entry.location!r} on the Hugging Face Hub (or it is private). Check the spelling, "
                "or give a local folder with config.json and weights.")
    return (
        f"Model {entry.location!r} is not in the local Hugging Face cache and the Hub could not be reached "
        f"({type(cause).__name__}). Alternatives: the bundled demo model (e.g. 'demo-switch-8'), or a local "
        "folder holding a checkpoint of a supported MoE family (config.json + weights). On a machine with "
        "internet, the model is downloaded on first use."
    )


def _hub_config(entry: ModelEntry, revision: str | None) -> PretrainedConfig:
    """A Hub model's config: the local HF cache first, then the Hub if it can be reached; else a clear error."""
    try:
        return AutoConfig.from_pretrained(entry.location, revision=revision, local_files_only=True,
                                          trust_remote_code=False)
    except Exception as cached_error:  # noqa: BLE001 - any failure means "not usable offline"
        if not hub_reachable():
            raise ModelNotAvailableError(_offline_message(entry, cached_error)) from None
        try:
            return AutoConfig.from_pretrained(entry.location, revision=revision, trust_remote_code=False)
        except Exception as online_error:  # noqa: BLE001
            raise ModelNotAvailableError(_offline_message(entry, online_error)) from None


def load_config(entry: ModelEntry, revision: str | None = None) -> PretrainedConfig:
    """Config only (no weights): from the folder, the HF cache, or the Hub, in that order."""
    if entry.family == "moefied":
        config = _moefied_config(entry, revision)
        if config.model_type not in MOEFIED_MODEL_TYPES:
            raise NotASwitchModelError(f"{entry.location!r} is a {config.model_type!r} model; MoE-fication supports "
                                       f"BERT-style encoders ({', '.join(MOEFIED_MODEL_TYPES)}).")
        return config
    if entry.source != "hub":
        folder = Path(entry.location)
        _check_local_folder(folder)
        config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
    else:
        config = _hub_config(entry, revision)
    if not family_of(config):
        raise NotASwitchModelError(
            f"{entry.name!r} is a {config.model_type!r} model; Routing Lens traces these mixture-of-experts "
            f"families: {', '.join(SUPPORTED_MODEL_TYPES)} (and BERT-style encoders as moefied:<model>@<experts>)."
        )
    return config


def _moefied_location(entry: ModelEntry) -> str:
    from core.moefy import PACKAGED_NAME, packaged_model_dir

    return str(packaged_model_dir()) if entry.location == PACKAGED_NAME else entry.location


def _moefied_config(entry: ModelEntry, revision: str | None) -> PretrainedConfig:
    location = _moefied_location(entry)
    if Path(location).is_dir():
        _check_local_folder(Path(location))
        return AutoConfig.from_pretrained(location, trust_remote_code=False)
    return _hub_config(ModelEntry(name=location, source="hub", location=location), revision)


def _model_class(config: PretrainedConfig):
    """Switch needs its seq2seq class (the decoder); everything else loads its base model (no LM head)."""
    return AutoModelForSeq2SeqLM if config.model_type == "switch_transformers" else AutoModel


def count_parameters(config: PretrainedConfig) -> int:
    """Exact parameter count from the config alone: the model is built on the meta device (no memory)."""
    with torch.device("meta"):
        model = _model_class(config).from_config(config, trust_remote_code=False)
    return sum(p.numel() for p in model.parameters())


def offload_folder(entry_location: str) -> Path:
    """Where disk-offloaded weights of a model go (one folder per model, under the cache)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in entry_location.strip("/"))[-80:]
    return cache_dir() / "offload" / safe


def plan_load(
    config: PretrainedConfig,
    device: str | None = None,
    dtype: str | None = None,
    available_bytes: int | None = None,
    placement: str = "auto",
    max_memory: dict | None = None,
    disk_bytes: int | None = None,
    offload_to: Path | None = None,
) -> LoadPlan:
    """Pick device, dtype and placement from the config alone (the model is built on the meta device), so the
    user sees what will happen before any weight is read. `available_bytes`/`disk_bytes` override the free
    memory/disk (tests, what-if estimates)."""
    device = pick_device(device)
    chosen = pick_dtype(device, dtype)
    params = count_parameters(config)
    budget = machine_budget(device, available_bytes, disk_bytes, offload_to)
    return plan_placement(params, chosen, dtype is not None, placement, budget, max_memory)


def machine_budget(device: str, available_bytes: int | None = None, disk_bytes: int | None = None,
                   offload_to: Path | None = None) -> Budget:
    """Free memory on the device (and CPU RAM beside a GPU), free disk for offload, bitsandbytes or not."""
    folder = offload_to or cache_dir() / "offload"
    return Budget(
        device=device,
        device_free=available_bytes if available_bytes is not None else available_memory(device).available_bytes,
        cpu_free=available_memory("cpu").available_bytes if device.startswith("cuda") else 0,
        disk_free=disk_bytes if disk_bytes is not None else disk_free(folder),
        offload_folder=str(folder),
        has_bnb=bitsandbytes_available(),
    )


PLACEMENT_WORDS = {"single": "fits in memory here", "device_map": "GPU + CPU here", "8bit": "8-bit here",
                   "4bit": "4-bit here", "offload": "disk offload here (slow)"}


def placement_hint(params: int) -> str:
    """Before loading, in a few words: how a model of `params` parameters would be placed on this machine."""
    from core.errors import ModelTooLargeError

    device = pick_device(None)
    try:
        plan = plan_placement(params, pick_dtype(device), False, "auto", machine_budget(device))
    except ModelTooLargeError:
        return "too large for this machine"
    return PLACEMENT_WORDS[plan.placement]


def _folder_fingerprint(folder: Path) -> str:
    """Revision stand-in for a folder: names, sizes and mtimes of its files (changes when retrained)."""
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return "local-" + h.hexdigest()[:16]


@dataclass
class LoadedModel:
    """A model ready to trace, with everything a cache key or a caption needs."""

    entry: ModelEntry
    model: Any
    tokenizer: Any
    config: PretrainedConfig
    revision: str
    device: str
    dtype: str
    params: int
    notes: tuple[str, ...] = field(default_factory=tuple)
    adapter: Any = field(default_factory=SwitchAdapter)
    placement: str = "single"
    plan_summary: str = ""

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def num_experts(self) -> int:
        if isinstance(self.adapter, (MoefiedAdapter, DecoderOnlyAdapter)):
            return self.adapter.num_experts
        return int(self.config.num_experts)

    @property
    def family(self) -> str:
        return self.adapter.family

    @property
    def top_k(self) -> int:
        return int(self.adapter.top_k)

    @property
    def stacks(self) -> tuple[str, ...]:
        """("encoder", "decoder") for Switch, ("encoder",) for a MoE-fied encoder, ("decoder",) for decoder-only."""
        return tuple(self.adapter.stacks)

    @property
    def architecture(self) -> str:
        return {"switch": "encoder-decoder", "moefied": "encoder (MoE-fied)"}.get(self.family, "decoder-only")

    @property
    def input_device(self) -> str:
        """Where input ids go: the planned device, or with a device_map the device of the embeddings (the
        accelerate hooks move activations between the other parts)."""
        device_map = getattr(self.model, "hf_device_map", None)
        if not device_map:
            return self.device
        first = next(iter(device_map.values()))
        return f"cuda:{first}" if isinstance(first, int) else (first if str(first).startswith("cuda") else "cpu")


def _weights_and_tokenizer(model_cls, location: str, plan: LoadPlan, revision: str | None):
    """`from_pretrained` of weights and tokenizer (a folder, or a Hub id: cache first), on the planned device,
    in eval mode; a failure is a clear error, never a traceback."""
    kwargs: dict[str, Any] = {"trust_remote_code": False}
    is_hub = not Path(location).is_dir()
    if is_hub:
        kwargs.update(revision=revision, local_files_only=hub_model_cached(location, revision))
    placement: dict[str, Any] = {}
    if not plan.uses_device_map and plan.device.startswith("cuda"):
        placement["device_map"] = {"": plan.device}  # straight onto the GPU, no full copy in CPU RAM first
    if plan.uses_device_map:
        placement.update(device_map="auto", max_memory=plan.max_memory)
        if plan.placement == "offload":
            Path(plan.offload_folder or cache_dir() / "offload").mkdir(parents=True, exist_ok=True)
            placement["offload_folder"] = plan.offload_folder
        if plan.placement in ("8bit", "4bit"):
            from transformers import BitsAndBytesConfig

            placement["quantization_config"] = BitsAndBytesConfig(load_in_8bit=plan.placement == "8bit",
                                                                  load_in_4bit=plan.placement == "4bit")
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report warns about the LM head we leave out; checked below instead
    try:
        model, info = model_cls.from_pretrained(location, dtype=DTYPES[plan.dtype], output_loading_info=True,
                                                **placement, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
    except (OSError, ValueError) as err:
        if is_hub:
            raise ModelNotAvailableError(_offline_message(ModelEntry(location, "hub", location), err)) from None
        raise NotASwitchModelError(f"Could not load the checkpoint in {location}: {err}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = [k for k in info.get("missing_keys", ()) if "router" in k or "gate" in k or ".experts." in k]
    if not getattr(tokenizer, "is_fast", False):
        raise NotASwitchModelError(f"The tokenizer of {location} has no fast (Rust) version, and Routing Lens needs "
                                   "its character offsets to map tokens to words. Add a tokenizer.json to the folder.")
    if missing:  # a router or expert left at random init would trace noise: refuse
        raise NotASwitchModelError(f"The checkpoint in {location} lacks {len(missing)} router/expert weights "
                                   f"(e.g. {sorted(missing)[0]}); it does not match its config.")
    if not plan.uses_device_map:
        model = model.to(plan.device)
    return model.eval(), tokenizer


def load_model(
    name: str,
    revision: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    available_bytes: int | None = None,
    placement: str = "auto",
    max_memory: dict | None = None,
    on_plan: Callable[[LoadPlan], None] | None = None,
) -> LoadedModel:
    """Resolve, plan (memory check and placement) and load a model and its tokenizer, in eval mode.
    `on_plan` sees the plan before any weight is read (the CLI prints it)."""
    entry = resolve(name)
    config = load_config(entry, revision)
    if entry.family == "moefied":
        return _load_moefied(entry, config, revision, device, dtype, available_bytes)
    plan = plan_load(config, device, dtype, available_bytes, placement, max_memory,
                     offload_to=offload_folder(entry.location))
    if on_plan:
        on_plan(plan)
    location = entry.location
    model, tokenizer = _weights_and_tokenizer(_model_class(config), location, plan, revision)
    if entry.source == "hub":
        resolved = getattr(config, "_commit_hash", None) or revision or "main"
    else:
        resolved = _folder_fingerprint(Path(location))
    family = family_of(config)
    adapter = SwitchAdapter() if family == "switch" else DecoderOnlyAdapter(DECODER_FAMILIES[family], config)
    device_label = plan.device
    if plan.uses_device_map:
        device_label = "+".join(dict.fromkeys(str(d) if not isinstance(d, int) else f"cuda:{d}"
                                              for d in getattr(model, "hf_device_map", {}).values())) or plan.device
    if entry.family != family:  # a local folder or Hub id: the entry learns its family from the config
        entry = ModelEntry(entry.name, entry.source, entry.location, adapter_experts(adapter, config), entry.params,
                           entry.description, family, entry.params_approx)
    return LoadedModel(entry, model, tokenizer, config, resolved, device_label, plan.dtype, plan.params, plan.notes,
                       adapter, plan.placement, plan.summary)


def adapter_experts(adapter, config) -> int:
    return int(getattr(adapter, "num_experts", None) or config.num_experts)


def _load_moefied(entry: ModelEntry, config, revision, device, dtype, available_bytes) -> LoadedModel:
    """A dense encoder + a cached neuron partition: routing = activation mass per cluster (float32 default,
    the model is small and the masses are sums of many activations)."""
    from core.moefy import PACKAGED_NAME, partition, verify_packaged_weights

    plan = plan_load(config, device, dtype or "float32", available_bytes)
    location = _moefied_location(entry)
    is_dir = Path(location).is_dir()
    if entry.location == PACKAGED_NAME:
        verify_packaged_weights(Path(location))
    model, tokenizer = _weights_and_tokenizer(AutoModel, location, plan, revision)
    parts, _cached = partition(model, int(entry.num_experts or 8))
    base = _folder_fingerprint(Path(location)) if is_dir else (getattr(config, "_commit_hash", None) or revision or "main")
    notes = plan.notes + ("dense model MoE-fied after training; routing = activation mass per neuron cluster; "
                          "not a sparsely trained model",)
    return LoadedModel(entry, model, tokenizer, config, f"{base}-E{entry.num_experts}-seed0", plan.device, plan.dtype,
                       plan.params, notes, adapter=MoefiedAdapter(parts, int(entry.num_experts or 8)))
