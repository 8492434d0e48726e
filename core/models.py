"""Model registry and loading: bundled demos, google/switch-base-N from the Hub, local folders.

Loading is always `from_pretrained` (never `trust_remote_code`). Before any weight is read, the
memory a model needs is estimated from its config alone and compared with what the device has free.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM, AutoTokenizer, PretrainedConfig

from core.adapters import MoefiedAdapter, SwitchAdapter

from core.devices import BYTES_PER_PARAM, DTYPES, available_memory, pick_device, pick_dtype
from core.errors import ModelNotAvailableError, ModelTooLargeError, NotASwitchModelError
from core.paths import BUNDLED_MODELS_DIR, cache_dir

SUPPORTED_MODEL_TYPES = ("switch_transformers",)
MOEFIED_MODEL_TYPES = ("bert",)  # dense encoders that can be MoE-fied (encoder.layer[i].intermediate)
MOEFIED_PREFIX = "moefied:"  # "moefied:<folder or Hub id>@<experts>" MoE-fies any BERT-style checkpoint
HUB_EXPERT_COUNTS = (8, 16, 32, 64, 128)
# Exact parameter counts of google/switch-base-N (= count_parameters(switch_base_config(N)); DESIGN §1 rounds
# them to 0.62B … 7.4B), shown with a memory estimate before anything is downloaded.
HUB_PARAMS = {8: 619_339_008, 16: 1_072_397_568, 32: 1_978_514_688, 64: 3_790_748_928, 128: 7_415_217_408}
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
# Activations, the tokenizer and Python itself need room beside the weights.
MEMORY_HEADROOM_FACTOR = 1.10
MEMORY_HEADROOM_BYTES = 512 * 2**20


@dataclass(frozen=True)
class ModelEntry:
    """One model the user can pick."""

    name: str  # what the user types: "demo-switch-8", "google/switch-base-8", a folder path
    source: str  # "bundled", "trained", "hub" or "local"
    location: str  # Hub id or folder path
    num_experts: int | None = None
    params: int | None = None
    description: str = ""
    family: str = "switch"  # "switch" or "moefied"

    @property
    def is_demo(self) -> bool:
        return self.source in ("bundled", "trained")


def _folder_experts(folder: Path) -> int | None:
    try:
        import json

        return int(json.loads((folder / "config.json").read_text())["num_experts"])
    except (OSError, ValueError, KeyError):
        return None


def _demo_entries(root: Path, source: str) -> list[ModelEntry]:
    if not root.is_dir():
        return []
    entries = []
    for folder in sorted(root.iterdir(), key=lambda p: (_folder_experts(p) or 0, p.name)):
        if (folder / "config.json").is_file() and any((folder / w).is_file() for w in WEIGHT_FILES):
            entries.append(
                ModelEntry(
                    name=folder.name,
                    source=source,
                    location=str(folder),
                    num_experts=_folder_experts(folder),
                    description="tiny Switch Transformer trained by this project (a teaching model, not the paper's)",
                )
            )
    return entries


def list_models() -> list[ModelEntry]:
    """Bundled demos first, then demos trained locally into cache/models/, then the google checkpoints."""
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
        if name == entry.name or (entry.family == "switch" and (name == entry.location or f"google/{name}" == entry.name)):
            return entry
    path = Path(name).expanduser()
    if path.exists() or name.startswith((".", "/", "~")) or os.sep in name and name.count("/") != 1:
        if not path.is_dir():
            raise NotASwitchModelError(f"Model folder {name!r} does not exist. Give a folder with config.json and weights.")
        return ModelEntry(name=str(path), source="local", location=str(path.resolve()), num_experts=_folder_experts(path))
    if name.count("/") == 1:
        return ModelEntry(name=name, source="hub", location=name)
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
    for entry in entries:
        if entry.source == "hub" and hub_model_cached(entry.location):
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


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check of the Hub endpoint, so an offline machine fails in seconds, not after retries."""
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _offline_message(entry: ModelEntry, cause: BaseException) -> str:
    return (
        f"Model {entry.location!r} is not in the local Hugging Face cache and the Hub could not be reached "
        f"({type(cause).__name__}). Alternatives: the bundled demo model (e.g. 'demo-switch-8'), or a local "
        "folder holding a Switch checkpoint (config.json + weights). On a machine with internet, the model "
        "is downloaded on first use."
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
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise NotASwitchModelError(
            f"{entry.name!r} is a {config.model_type!r} model; Routing Lens traces Switch Transformers "
            f"({', '.join(SUPPORTED_MODEL_TYPES)})."
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
    return AutoModelForSeq2SeqLM if config.model_type in SUPPORTED_MODEL_TYPES else AutoModel


def count_parameters(config: PretrainedConfig) -> int:
    """Exact parameter count from the config alone: the model is built on the meta device (no memory)."""
    with torch.device("meta"):
        model = _model_class(config).from_config(config, trust_remote_code=False)
    return sum(p.numel() for p in model.parameters())


def estimate_bytes(params: int, dtype: str) -> int:
    """Resident memory a model of `params` parameters needs in `dtype`, with headroom."""
    return int(params * BYTES_PER_PARAM[dtype] * MEMORY_HEADROOM_FACTOR) + MEMORY_HEADROOM_BYTES


@dataclass(frozen=True)
class LoadPlan:
    """Decided before loading: where, in what precision, and whether it fits."""

    device: str
    dtype: str
    params: int
    needed_bytes: int
    available_bytes: int
    notes: tuple[str, ...] = ()


def plan_load(
    config: PretrainedConfig,
    device: str | None = None,
    dtype: str | None = None,
    available_bytes: int | None = None,
) -> LoadPlan:
    """Pick device and dtype and check the model fits; fall back to bf16 only when the dtype was not forced."""
    device = pick_device(device)
    chosen = pick_dtype(device, dtype)
    params = count_parameters(config)
    free = available_bytes if available_bytes is not None else available_memory(device).available_bytes
    needed = estimate_bytes(params, chosen)
    notes: list[str] = []
    if needed > free and dtype is None and chosen == "float32":
        bf16_needed = estimate_bytes(params, "bfloat16")
        if bf16_needed <= free:
            notes.append(
                f"float32 would need {needed / 2**30:.1f} GiB but only {free / 2**30:.1f} GiB is free: using bfloat16."
            )
            chosen, needed = "bfloat16", bf16_needed
    if needed > free:
        raise ModelTooLargeError(
            f"This model has {params / 1e9:.2f}B parameters and needs about {needed / 2**30:.1f} GiB in {chosen} "
            f"on {device}, but only {free / 2**30:.1f} GiB is free. "
            + ("Try dtype bfloat16, " if chosen == "float32" else "Try ")
            + "a smaller expert count, or a machine with more memory."
        )
    return LoadPlan(device, chosen, params, needed, free, tuple(notes))


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

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def num_experts(self) -> int:
        if isinstance(self.adapter, MoefiedAdapter):
            return self.adapter.num_experts
        return int(self.config.num_experts)

    @property
    def stacks(self) -> tuple[str, ...]:
        return ("encoder",) if self.entry.family == "moefied" else ("encoder", "decoder")


def _weights_and_tokenizer(model_cls, location: str, plan: LoadPlan, revision: str | None):
    """`from_pretrained` of weights and tokenizer (a folder, or a Hub id: cache first), on the planned device,
    in eval mode; a failure is a clear error, never a traceback."""
    kwargs: dict[str, Any] = {"trust_remote_code": False}
    is_hub = not Path(location).is_dir()
    if is_hub:
        kwargs.update(revision=revision, local_files_only=hub_model_cached(location, revision))
    try:
        model = model_cls.from_pretrained(location, dtype=DTYPES[plan.dtype], **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
    except (OSError, ValueError) as err:
        if is_hub:
            raise ModelNotAvailableError(_offline_message(ModelEntry(location, "hub", location), err)) from None
        raise NotASwitchModelError(f"Could not load the checkpoint in {location}: {err}") from None
    return model.to(plan.device).eval(), tokenizer


def load_model(
    name: str,
    revision: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    available_bytes: int | None = None,
) -> LoadedModel:
    """Resolve, plan (memory check) and load a model and its tokenizer, in eval mode."""
    entry = resolve(name)
    config = load_config(entry, revision)
    if entry.family == "moefied":
        return _load_moefied(entry, config, revision, device, dtype, available_bytes)
    plan = plan_load(config, device, dtype, available_bytes)
    location = entry.location
    model, tokenizer = _weights_and_tokenizer(AutoModelForSeq2SeqLM, location, plan, revision)
    if entry.source == "hub":
        resolved = getattr(config, "_commit_hash", None) or revision or "main"
    else:
        resolved = _folder_fingerprint(Path(location))
    return LoadedModel(entry, model, tokenizer, config, resolved, plan.device, plan.dtype, plan.params, plan.notes)


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
