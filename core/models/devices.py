"""Where and in what precision to run: CUDA when present; float32 unless memory requires half precision."""
from __future__ import annotations

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


def pick_dtype(device: str, requested: str | None = None) -> DType:
    """`requested` wins; otherwise float32, the precision policy (docs/definitions.md): bf16 flips near-tie top-1
    choices and the change propagates through later layers, so half precision is used only where memory requires
    it (the placement planner falls back to `half_dtype` with a note) or where the user asks."""
    if requested:
        if requested not in DTYPES:
            raise InputError(f"Unknown dtype {requested!r}; choose one of {', '.join(DTYPES)}.")
        return requested
    return "float32"


def half_dtype(device: str) -> DType:
    """The half precision a device computes well: bf16, or fp16 on a GPU without bf16."""
    if device.startswith("cuda") and not torch.cuda.is_bf16_supported():
        return "float16"
    return "bfloat16"


def available_memory(device: str) -> int:
    """Free bytes on the device the weights will live on (VRAM for CUDA, RAM for CPU)."""
    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    return int(psutil.virtual_memory().available)
