"""A model loaded from safetensors on CPU keeps parts of its checkpoint memory-mapped: tensors loaded as they are
(attention, embeddings, norms) point into the files, so every page the loader touched — the experts it read to fuse
them included — stays mapped and counts in the process's resident memory. On an OLMoE-1B-7B-shaped checkpoint (12.9
GiB in bf16) that is 9.6 GiB of file pages beside 12.3 GiB of the model's own memory: 1.7× the weights. Copying the
few mapped tensors (146 of them, 0.7 GiB) into memory the model owns lets the maps go: 13.1 GiB, 1.02×
(bench/real_size.py). Linux only (/proc/self/maps); elsewhere nothing is done."""
from __future__ import annotations

import gc
from pathlib import Path

import torch

MAPS = Path("/proc/self/maps")


def _mapped_checkpoint_ranges() -> list[tuple[int, int]]:
    try:
        lines = MAPS.read_text().splitlines()
    except OSError:
        return []
    ranges = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 6 and parts[5].endswith(".safetensors"):
            start, end = (int(x, 16) for x in parts[0].split("-"))
            ranges.append((start, end))
    return ranges


def own_memory(model: torch.nn.Module) -> int:
    """Copy every parameter and buffer that points into a memory-mapped checkpoint file into the model's own memory,
    so the maps are released; returns how many were copied."""
    ranges = _mapped_checkpoint_ranges()
    if not ranges:
        return 0
    copied = 0
    with torch.no_grad():
        for module in model.modules():
            for group in (module._parameters, module._buffers):  # noqa: SLF001 - the tensors themselves, in place
                for tensor in group.values():
                    if tensor is not None and tensor.device.type == "cpu" and any(
                            a <= tensor.data_ptr() < b for a, b in ranges):
                        tensor.data = tensor.data.clone()
                        copied += 1
    gc.collect()
    return copied
