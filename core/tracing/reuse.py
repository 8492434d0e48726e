"""Reusing the activations below an intervention: an alternative route at sparse layer L leaves every block before
L (and, for an intervention in a decoder, the whole encoder) exactly as it was, so their outputs are taken from the
intact pass instead of being recomputed. Blocks are found by their names (`…layers.N`, `…block.N`); an intact pass
records each block's output, and while `reusing` is open those blocks return the record (expanded to the batch).
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import torch

from core.types import Stack

BLOCK = re.compile(r"^(?P<prefix>.*?)(?:layers|block)\.(?P<index>\d+)$")


def stack_of(name: str, stacks: tuple[Stack, ...]) -> Stack:
    return "decoder" if len(stacks) == 1 or ".decoder." in f".{name}." else "encoder"


def blocks(model: torch.nn.Module, stacks: tuple[Stack, ...]) -> list[tuple[Stack, int, str, torch.nn.Module]]:
    """Every transformer block: (stack, index, name, module)."""
    found = []
    for name, module in model.named_modules():
        m = BLOCK.match(name)
        if m and "vision" not in name:
            found.append((stack_of(name, stacks), int(m["index"]), name, module))
    return found


def reusable(found: list[tuple[Stack, int, str, torch.nn.Module]], stack: Stack, layer: int) -> list[str]:
    """The blocks an intervention at (stack, layer) cannot change: the stack's blocks before `layer`, and the whole
    encoder under a decoder intervention."""
    return [name for s, i, name, _m in found if (s == stack and i < layer) or (stack == "decoder" and s == "encoder")]


@contextlib.contextmanager
def recording(found: list[tuple[Stack, int, str, torch.nn.Module]]) -> Iterator[dict[str, Any]]:
    """While open, each block's output of the passes run is kept by name (the last pass's)."""
    record: dict[str, Any] = {}
    handles = [module.register_forward_hook(lambda _m, _i, out, name=name: record.update({name: out}))
               for _s, _i, name, module in found]
    try:
        yield record
    finally:
        for h in handles:
            h.remove()


def nbytes(value: Any) -> int:
    """Memory a recorded block output holds."""
    if torch.is_tensor(value):
        return value.numel() * value.element_size()
    return sum(nbytes(v) for v in value) if isinstance(value, tuple) else 0


def _expanded(value: Any, batch: int) -> Any:
    if torch.is_tensor(value):
        if value.dim() and value.shape[0] == 1 and batch > 1:
            return value.repeat(batch, *([1] * (value.dim() - 1)))  # contiguous: the model may view() it
        return value
    if isinstance(value, tuple):
        return tuple(_expanded(v, batch) for v in value)
    return value


@contextlib.contextmanager
def reusing(found: list[tuple[Stack, int, str, torch.nn.Module]], names: list[str], record: dict[str, Any],
            batch: int = 1) -> Iterator[None]:
    """While open, the named blocks return their recorded output (a batch of `batch` copies of one recorded text)
    without computing anything; restored on exit."""
    modules = {name: module for _s, _i, name, module in found if name in names and name in record}
    try:
        for name, module in modules.items():
            out = _expanded(record[name], batch)
            module.forward = lambda *_a, out=out, **_k: out  # an instance attribute: shadows the class's forward
        yield
    finally:
        for module in modules.values():
            module.__dict__.pop("forward", None)
