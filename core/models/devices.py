"""Where and in what precision to run: CUDA when present, bf16 where the hardware has fast bf16."""
from __future__ import annotations

import functools
import psutil
import torch

from core.errors import InputError
from core.types import DType

DTYPES: dict[DType, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
BYTES_PER_PARAM: dict[DType, int] = {"float32": 4, "bfloat16": 2, "float16": 2}


def pick_device(requested: str | None = None) -> str:
    """`requested` wins ("cpu", "cuda", "cuda:1"); otherwise CUDA when available, else CPU."""
    if requested:
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"Device {requested!r} was asked for, but CUDA is not available on this machine; use 'cpu'.")
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True on CPUs with AVX512-bf16 or AMX, where bf16 matmuls beat fp32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_dtype(device: str, requested: str | None = None) -> DType:
    """`requested` wins; else bf16 on CUDA (if supported) or on a CPU with fast bf16, else fp32."""
    if requested:
        if requested not in DTYPES:
            raise InputError(f"Unknown dtype {requested!r}; choose one of {', '.join(DTYPES)}.")
        return requested
    if device.startswith("cuda"):
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "bfloat16" if cpu_has_fast_bf16() else "float32"


def available_memory(device: str) -> int:
    """Free bytes on the device the weights will live on (VRAM for CUDA, RAM for CPU)."""
    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    return int(psutil.virtual_memory().available)
