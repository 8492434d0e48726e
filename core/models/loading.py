"""Loading a model: config → adapter → placement plan → weights and tokenizer, always via `from_pretrained`
(never `trust_remote_code`). Before any weight is read, the memory a model needs is estimated from its config
alone and a placement is chosen (placement.py)."""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoTokenizer, PretrainedConfig

from core.errors import ModelNotAvailableError, UnsupportedModelError
from core.models.adapters.unsupported import unsupported_reason
from core.models.memory_maps import own_memory
from core.models.adapters import ModelAdapter, adapter_for, supported_model_types
from core.models.adapters.moefied import MoefiedSource
from core.models.devices import DTYPES, pick_device, pick_dtype
from core.models.hub import hub_config, hub_failure_message, hub_model_cached
from core.models.placement import LoadPlan, machine_budget, offload_folder, plan_placement
from core.models.registry import ModelEntry, check_local_folder, resolve
from core.settings import cache_dir
from core.types import Architecture, DType, ExpertsKernel, Placement, Stack


@dataclass
class LoadedModel:
    """A model ready to trace, with everything a cache key or a caption needs."""

    entry: ModelEntry
    model: Any
    tokenizer: Any
    config: PretrainedConfig
    adapter: ModelAdapter
    revision: str
    device: str
    dtype: DType
    params: int
    notes: tuple[str, ...] = field(default_factory=tuple)
    placement: Placement = "single"
    plan_summary: str = ""
    experts_kernel: str = "library"  # how the experts are computed: loop, grouped, or the library's own

    @classmethod
    def from_memory(cls, name: str, model: Any, tokenizer: Any, dtype: DType) -> LoadedModel:
        """Wrap a model built in this process (benchmarks on random weights of the real shapes)."""
        adapter = adapter_for(model.config)
        if adapter is None:
            raise UnsupportedModelError(f"{name}: no adapter for model_type {model.config.model_type!r}.")
        return cls(entry=ModelEntry(name=name, source="local", location=f"/in-memory/{name}"), model=model, tokenizer=tokenizer,
                   config=model.config, adapter=adapter, revision="in-memory", device=str(model.device), dtype=dtype,
                   params=sum(p.numel() for p in model.parameters()))

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def result_key(self) -> str:
        """What a saved result is keyed by: where the weights came from and their revision (a retrained folder or a
        new Hub revision is another result)."""
        return f"{self.entry.location}@{self.revision}"

    @property
    def num_experts(self) -> int:
        return self.adapter.num_experts

    @property
    def family(self) -> str:
        return self.adapter.family

    @property
    def top_k(self) -> int:
        return int(self.adapter.top_k)

    @property
    def stacks(self) -> tuple[Stack, ...]:
        """("encoder", "decoder") for Switch, ("encoder",) for a MoE-fied encoder, ("decoder",) for decoder-only."""
        return tuple(self.adapter.stacks)

    @property
    def architecture(self) -> Architecture:
        return self.adapter.architecture

    @property
    def input_device(self) -> str:
        """Where input ids go: the planned device, or with a device_map the device of the embeddings (the
        accelerate hooks move activations between the other parts)."""
        device_map = getattr(self.model, "hf_device_map", None)
        if not device_map:
            return self.device
        first = next(iter(device_map.values()))
        return f"cuda:{first}" if isinstance(first, int) else (first if str(first).startswith("cuda") else "cpu")


def _moefied(entry: ModelEntry) -> MoefiedSource | None:
    """The MoE-fied adapter's loading rules for a MoE-fied entry; None for every other model."""
    return MoefiedSource(entry.location, entry.num_experts, entry.routers) if entry.moefied else None


def _location(entry: ModelEntry) -> str:
    """Where the weights are (a MoE-fied entry's own answer, else the entry's location)."""
    moefied = _moefied(entry)
    return moefied.location if moefied else entry.location


def _is_hub(entry: ModelEntry) -> bool:
    moefied = _moefied(entry)
    return moefied.remote if moefied else entry.from_hub


def load_config(entry: ModelEntry, revision: str | None = None) -> PretrainedConfig:
    """Config only (no weights): from the folder, the HF cache, or the Hub, in that order; refused when no adapter
    supports it."""
    location = _location(entry)
    if _is_hub(entry):
        config = hub_config(location, revision)
    else:
        check_local_folder(Path(location))
        config = AutoConfig.from_pretrained(location, trust_remote_code=False)
    if (moefied := _moefied(entry)) is not None:
        moefied.check(config)
    elif adapter_for(config) is None:
        reason = unsupported_reason(config.model_type)
        raise UnsupportedModelError(
            f"{entry.name!r} is a {config.model_type!r} model"
            + (f", a mixture-of-experts architecture Routing Lens does not trace yet: {reason}. It" if reason else
               "; Routing Lens") + f" traces these mixture-of-experts families: {', '.join(supported_model_types())} "
            "(and BERT-style encoders as moefied:<model>@<experts>)."
        )
    return config


def _adapter(entry: ModelEntry, config: PretrainedConfig) -> ModelAdapter:
    moefied = _moefied(entry)
    adapter = moefied.adapter() if moefied else adapter_for(config)
    assert adapter is not None  # load_config refused the unsupported ones
    return adapter


def count_parameters(config: PretrainedConfig) -> int:
    """Exact parameter count from the config alone: the model is built on the meta device (no memory)."""
    adapter = adapter_for(config)
    model_class = adapter.model_class() if adapter else ModelAdapter.model_class()  # a dense encoder to MoE-fy
    with torch.device("meta"):
        model = model_class.from_config(config, trust_remote_code=False)
    return sum(p.numel() for p in model.parameters())


def plan_load(
    config: PretrainedConfig,
    device: str | None = None,
    dtype: DType | None = None,
    available_bytes: int | None = None,
    placement: Placement = "auto",
    max_memory: dict | None = None,
    disk_bytes: int | None = None,
    offload_to: Path | None = None,
) -> LoadPlan:
    """Pick device, dtype and placement from the config alone (the model is built on the meta device), so the
    user sees what will happen before any weight is read. `available_bytes`/`disk_bytes` override the free
    memory/disk (tests, what-if estimates)."""
    device = pick_device(device)
    chosen = pick_dtype(device, dtype)
    budget = machine_budget(device, available_bytes, disk_bytes, offload_to)
    return plan_placement(count_parameters(config), chosen, dtype is not None, placement, budget, max_memory)


def folder_fingerprint(folder: Path) -> str:
    """Revision stand-in for a folder: names, sizes and mtimes of its files (changes when retrained)."""
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return "local-" + h.hexdigest()[:16]


def _placement_kwargs(plan: LoadPlan) -> dict[str, Any]:
    """from_pretrained arguments that put the weights where the plan says."""
    if not plan.uses_device_map:
        # straight onto the GPU, no full copy in CPU RAM first
        return {"device_map": {"": plan.device}} if plan.device.startswith("cuda") else {}
    kwargs: dict[str, Any] = {"device_map": "auto", "max_memory": plan.max_memory}
    if plan.placement == "offload":
        Path(plan.offload_folder or cache_dir() / "offload").mkdir(parents=True, exist_ok=True)
        kwargs["offload_folder"] = plan.offload_folder
    if plan.placement in ("8bit", "4bit"):
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=plan.placement == "8bit",
                                                           load_in_4bit=plan.placement == "4bit")
    return kwargs


def weights_and_tokenizer(model_cls: Any, location: str, plan: LoadPlan, revision: str | None) -> tuple[Any, Any]:
    """`from_pretrained` of weights and tokenizer (a folder, or a Hub id: cache first), on the planned device,
    in eval mode; a failure is a clear error, never a traceback."""
    kwargs: dict[str, Any] = {"trust_remote_code": False}
    is_hub = not Path(location).is_dir()
    if is_hub:
        kwargs.update(revision=revision, local_files_only=hub_model_cached(location, revision))
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report warns about the LM head we leave out; checked below instead
    try:
        model, info = model_cls.from_pretrained(location, dtype=DTYPES[plan.dtype], output_loading_info=True,
                                                **_placement_kwargs(plan), **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
    except (OSError, ValueError) as err:
        if is_hub:
            raise ModelNotAvailableError(hub_failure_message(location, err)) from None
        raise UnsupportedModelError(f"Could not load the checkpoint in {location}: {err}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = [k for k in info.get("missing_keys", ()) if "router" in k or "gate" in k or ".experts." in k]
    if not getattr(tokenizer, "is_fast", False):
        raise UnsupportedModelError(f"The tokenizer of {location} has no fast (Rust) version, and Routing Lens needs "
                                    "its character offsets to map tokens to words. Add a tokenizer.json to the folder.")
    if missing:  # a router or expert left at random init would trace noise: refuse
        raise UnsupportedModelError(f"The checkpoint in {location} lacks {len(missing)} router/expert weights "
                                    f"(e.g. {sorted(missing)[0]}); it does not match its config.")
    if not plan.uses_device_map:
        model = model.to(plan.device)
        own_memory(model)  # a CPU model lets go of the checkpoint's memory maps (core/models/memory_maps.py)
    return model.eval(), tokenizer


def load_model(
    name: str,
    revision: str | None = None,
    device: str | None = None,
    dtype: DType | None = None,
    available_bytes: int | None = None,
    placement: Placement = "auto",
    max_memory: dict | None = None,
    on_plan: Callable[[LoadPlan], None] | None = None,
    experts_kernel: ExpertsKernel = "auto",
    lm_head: bool = False,
) -> LoadedModel:
    """Resolve, plan (memory check and placement) and load a model and its tokenizer, in eval mode.
    `on_plan` sees the plan before any weight is read (the CLI prints it). `experts_kernel`: how experts are
    computed (the adapter's `set_experts_kernel`; numerically the same). `lm_head`: with the language-model head
    (the adapter's `lm_model_class`), for a loss (`python -m core ablate`); routing never needs it."""
    entry = resolve(name)
    config = load_config(entry, revision)
    adapter = _adapter(entry, config)
    location = _location(entry)
    plan = plan_load(config, device, dtype, available_bytes, placement, max_memory,
                     offload_to=offload_folder(entry.location))
    if on_plan:
        on_plan(plan)
    if (moefied := _moefied(entry)) is not None:
        moefied.verify_weights()  # the packaged MiniLM: its checksums before any weight is read
    model_class = adapter.lm_model_class() if lm_head else adapter.model_class()
    model, tokenizer = weights_and_tokenizer(model_class, location, plan, revision)
    adapter.after_load(model)
    kernel = adapter.set_experts_kernel(model, experts_kernel)
    base = (getattr(config, "_commit_hash", None) or revision or "main") if _is_hub(entry) else folder_fingerprint(Path(location))
    device_label = plan.device
    if plan.uses_device_map:
        device_label = "+".join(dict.fromkeys(str(d) if not isinstance(d, int) else f"cuda:{d}"
                                              for d in getattr(model, "hf_device_map", {}).values())) or plan.device
    if entry.family != adapter.family:  # a local folder or Hub id: the entry learns its family from the config
        entry = dataclasses.replace(entry, family=adapter.family, num_experts=adapter.num_experts)
    return LoadedModel(entry=entry, model=model, tokenizer=tokenizer, config=config, adapter=adapter,
                       revision=base + adapter.revision_tag(), device=device_label, dtype=plan.dtype,
                       params=plan.params, notes=plan.notes, placement=plan.placement, plan_summary=plan.summary,
                       experts_kernel=kernel)
