"""Where a model's weights will live, decided from its parameter count before anything is read.

Small models load whole onto one device. A model larger than the device is spread by accelerate's
`device_map="auto"`: GPU first, then CPU RAM, then disk offload (slow: offloaded layers are read from disk
on every forward pass); with `bitsandbytes` and a GPU, 8-bit or 4-bit weights are offered before disk.
The plan's `summary` is what the CLI prints and the app shows before loading.
"""
from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from core.errors import InputError, ModelTooLargeError
from core.models.devices import BYTES_PER_PARAM, available_memory, half_dtype, pick_device, pick_dtype
from core.settings import cache_dir
from core.types import PLACEMENTS, DType, Placement
QUANT_BYTES = {"8bit": 1.0, "4bit": 0.5}
# Activations, the tokenizer and Python itself need room beside the weights.
MEMORY_HEADROOM_FACTOR = 1.10
MEMORY_HEADROOM_BYTES = 512 * 2**20
# Of the free memory, how much device_map="auto" may fill (the rest is for activations and the OS).
FILL_FRACTION = 0.85


def estimate_bytes(params: int, dtype: DType, placement: Placement = "single") -> int:
    """Resident memory a model of `params` parameters needs in `dtype` (or quantised), with headroom."""
    per_param = QUANT_BYTES.get(placement, BYTES_PER_PARAM[dtype])
    return int(params * per_param * MEMORY_HEADROOM_FACTOR) + MEMORY_HEADROOM_BYTES


def bitsandbytes_available() -> bool:
    """8-bit/4-bit loading needs the optional `bitsandbytes` package and a CUDA GPU."""
    return importlib.util.find_spec("bitsandbytes") is not None and torch.cuda.is_available()


def disk_free(folder: Path) -> int:
    """Free bytes on the disk that holds `folder` (or would: its nearest existing parent; nothing is created)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return int(shutil.disk_usage(folder).free)


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


@dataclass(frozen=True)
class LoadPlan:
    """Decided before loading: where, in what precision, how the weights are spread, and whether it fits."""

    device: str
    dtype: DType
    params: int
    needed_bytes: int
    available_bytes: int
    notes: tuple[str, ...] = ()
    placement: Placement = "single"  # never "auto": the plan is the decision
    max_memory: dict | None = None  # for device_map="auto"
    offload_folder: str | None = None
    offload_bytes: int = 0  # expected on disk

    @property
    def uses_device_map(self) -> bool:
        return self.placement != "single"

    @property
    def summary(self) -> str:
        size = f"{self.params / 1e9:.2f}B params" if self.params >= 1e8 else f"{self.params / 1e6:.1f}M params"
        if self.placement == "single":
            return (f"{size}: needs about {_gib(self.needed_bytes)} in {self.dtype}; {_gib(self.available_bytes)} free "
                    f"on {self.device}: loads whole onto {self.device}.")
        in_memory = _gib(sum((self.max_memory or {}).values()))
        if self.placement == "device_map":
            return (f"{size}: needs about {_gib(self.needed_bytes)} in {self.dtype} ({_gib(self.available_bytes)} free "
                    f"on {self.device}): split by accelerate device_map='auto' across the GPU, then CPU RAM "
                    f"(up to {in_memory} in all).")
        if self.placement in QUANT_BYTES:
            return (f"{size}: {self.placement} weights with bitsandbytes, about {_gib(self.needed_bytes)} on "
                    f"{self.device} ({_gib(self.available_bytes)} free). Routing is close to, not identical with, "
                    "the full-precision model's.")
        return (f"{size}: needs about {_gib(self.needed_bytes)} in {self.dtype} ({_gib(self.available_bytes)} free "
                f"on {self.device}): device_map='auto' keeps up to {in_memory} in memory and offloads about "
                f"{_gib(self.offload_bytes)} to disk under {self.offload_folder} (slow: offloaded layers are read "
                "from disk on every pass).")


@dataclass(frozen=True)
class Budget:
    """What this machine offers, in free bytes per tier: `device` is the GPU on CUDA machines, else the CPU RAM
    (then `cpu_free` is 0); disk for offload; whether bitsandbytes can quantise. The only budget type."""

    device: str
    device_free: int
    cpu_free: int = 0
    disk_free: int = 0
    offload_folder: str = ""
    has_bnb: bool = False


def plan_placement(params: int, dtype: DType, dtype_forced: bool, placement: Placement, budget: Budget,
                   max_memory: dict | None = None) -> LoadPlan:
    """Pick how to place `params` parameters. `placement="auto"` picks the first that fits of: one device
    (bf16 instead of fp32 when the dtype was not forced), GPU+CPU, 8-bit, 4-bit, disk offload."""
    if placement not in PLACEMENTS:
        raise InputError(f"Unknown placement {placement!r}; choose one of {', '.join(PLACEMENTS)}.")
    free, dev = budget.device_free, budget.device
    on_gpu = dev.startswith("cuda")
    notes: list[str] = []
    needed = estimate_bytes(params, dtype)

    def plan(kind: Placement, dt: DType, need: int, **kw) -> LoadPlan:
        return LoadPlan(device=dev, dtype=dt, params=params, needed_bytes=need, available_bytes=free,
                        notes=tuple(notes), placement=kind, **kw)

    def spread(kind: Placement, dt: DType, need: int) -> LoadPlan:
        gpu_key = int(dev.split(":")[1]) if ":" in dev else 0
        mm = max_memory or ({gpu_key: int(free * FILL_FRACTION), "cpu": int(budget.cpu_free * FILL_FRACTION)}
                            if on_gpu else {"cpu": int(free * FILL_FRACTION)})
        weights = params * QUANT_BYTES.get(kind, BYTES_PER_PARAM[dt])
        off = int(max(0, weights - sum(mm.values()))) if kind == "offload" else 0
        return plan(kind, dt, need, max_memory=mm, offload_folder=budget.offload_folder if kind == "offload" else None,
                    offload_bytes=off)

    if placement in QUANT_BYTES:
        if not budget.has_bnb:
            raise ModelTooLargeError(f"{placement} loading needs a CUDA GPU and the bitsandbytes package "
                                     "(pip install bitsandbytes); neither placement is possible here.")
        return spread(placement, dtype, estimate_bytes(params, dtype, placement))
    if placement == "single":
        if needed > free:
            raise ModelTooLargeError(
                f"This model has {params / 1e9:.2f}B parameters and needs about {_gib(needed)} in {dtype} on {dev}, "
                f"but only {_gib(free)} is free. " + ("Try dtype bfloat16, " if dtype == "float32" else "Try ")
                + "placement 'offload' (disk), a smaller model, or a machine with more memory.")
        return plan("single", dtype, needed)
    if placement in ("device_map", "offload"):
        return spread(placement, dtype, needed)

    # placement == "auto"
    if needed <= free:
        return plan("single", dtype, needed)
    if not dtype_forced and dtype == "float32":
        half = half_dtype(dev)
        notes.append(f"float32 would need {_gib(needed)} but only {_gib(free)} is free: computing in {half} (routers "
                     "still softmax in float32, but near-tie top-1 choices can differ from float32's).")
        dtype, needed = half, estimate_bytes(params, half)
        if needed <= free:
            return plan("single", dtype, needed)
    if on_gpu and needed <= (free + budget.cpu_free) * FILL_FRACTION:
        return spread("device_map", dtype, needed)
    if budget.has_bnb:
        for q in QUANT_BYTES:
            if estimate_bytes(params, dtype, q) <= free:
                return spread(q, dtype, estimate_bytes(params, dtype, q))
    in_memory = (free + (budget.cpu_free if on_gpu else 0)) * FILL_FRACTION
    if needed - in_memory <= budget.disk_free * FILL_FRACTION:
        return spread("offload", dtype, needed)
    raise ModelTooLargeError(
        f"This model has {params / 1e9:.2f}B parameters and needs about {_gib(needed)} in {dtype}; free here: "
        f"{_gib(free)} on {dev}" + (f", {_gib(budget.cpu_free)} CPU RAM" if on_gpu else "")
        + f" and {_gib(budget.disk_free)} of disk for offload at {budget.offload_folder}. Use a machine with more "
        "memory or disk" + ("" if budget.has_bnb else ", or a GPU with bitsandbytes for 8-/4-bit weights") + ".")


def offload_folder(entry_location: str) -> Path:
    """Where disk-offloaded weights of a model go (one folder per model, under the cache)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in entry_location.strip("/"))[-80:]
    return cache_dir() / "offload" / safe


def machine_budget(device: str, available_bytes: int | None = None, disk_bytes: int | None = None,
                   offload_to: Path | None = None) -> Budget:
    """Free memory on the device (and CPU RAM beside a GPU), free disk for offload, bitsandbytes or not.
    `available_bytes`/`disk_bytes` override what is measured (tests, what-if estimates)."""
    folder = offload_to or cache_dir() / "offload"
    return Budget(
        device=device,
        device_free=available_bytes if available_bytes is not None else available_memory(device),
        cpu_free=available_memory("cpu") if device.startswith("cuda") else 0,
        disk_free=disk_bytes if disk_bytes is not None else disk_free(folder),
        offload_folder=str(folder),
        has_bnb=bitsandbytes_available(),
    )


PLACEMENT_WORDS: dict[Placement, str] = {
    "single": "fits in memory here", "device_map": "GPU + CPU here", "8bit": "8-bit here", "4bit": "4-bit here",
    "offload": "disk offload here (slow)"}


def placement_hint(params: int) -> str:
    """Before loading, in a few words: how a model of `params` parameters would be placed on this machine."""
    device = pick_device(None)
    try:
        plan = plan_placement(params, pick_dtype(device), False, "auto", machine_budget(device))
    except ModelTooLargeError:
        return "too large for this machine"
    return PLACEMENT_WORDS[plan.placement]
