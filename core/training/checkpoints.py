"""Checkpoints at chosen fractions of training (`train-demo --save-at 0.01,0.1,0.2,0.4`): the material of the
checkpoint studies (OLMoE's router saturation, OpenMoE's early routing learning).

A fraction is of the steps when `--steps` fixes them, else of the time budget. Each checkpoint is a complete model
folder (weights, tokenizer, checkpoint.json with fraction, step and tokens seen), first written beside the output and
moved into `<out>/checkpoints/` when the final model is saved, so the output folder stays all-or-nothing.
"""
from __future__ import annotations

import copy
import json
import shutil
import time
from pathlib import Path

import torch

from core.errors import InputError

CHECKPOINTS = "checkpoints"
CHECKPOINT_INFO = "checkpoint.json"


def parse_fractions(text: str | None) -> tuple[float, ...]:
    """`0.01,0.1,0.2,0.4` → sorted fractions in (0, 1); a clear error on anything else."""
    if not text:
        return ()
    try:
        values = sorted({float(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise InputError(f"--save-at takes fractions of training separated by commas (e.g. 0.01,0.1,0.2,0.4), not "
                         f"{text!r}.") from None
    if not values or any(not 0 < v < 1 for v in values):
        raise InputError("--save-at fractions must lie strictly between 0 and 1 (the final model is always saved).")
    return tuple(values)


def label(fraction: float) -> str:
    """Folder name of the checkpoint at `fraction`: `at-0.010` sorts in training order."""
    return f"at-{fraction:.3f}"


class Checkpointer:
    """Saves a copy of the model each time training passes one of the fractions (never the training copy itself,
    which keeps its precision and optimiser state)."""

    def __init__(self, out: Path, fractions: tuple[float, ...], max_steps: int | None, minutes: float,
                 started: float) -> None:
        self.fractions = list(fractions)
        self.max_steps, self.seconds, self.started = max_steps, minutes * 60, started
        self.staging = Path(out).resolve().with_name(f".{Path(out).name}.{CHECKPOINTS}")
        shutil.rmtree(self.staging, ignore_errors=True)
        self.saved: list[dict] = []

    def _progress(self, step: int) -> float:
        if self.max_steps:
            return step / self.max_steps
        return (time.time() - self.started) / self.seconds if self.seconds else 1.0

    def after_step(self, step: int, tokens_seen: int, model, tokenizer) -> None:
        """Save every fraction this step has reached (several at once when steps are few)."""
        while self.fractions and self._progress(step) >= self.fractions[0]:
            fraction = self.fractions.pop(0)
            folder = self.staging / label(fraction)
            snapshot = copy.deepcopy(model).eval().to(torch.float16)
            snapshot.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            info = {"fraction": fraction, "step": step, "tokens_seen": tokens_seen}
            (folder / CHECKPOINT_INFO).write_text(json.dumps(info, indent=1), encoding="utf-8")
            self.saved.append(info)
            del snapshot

    def move_into(self, folder: Path) -> None:
        """Called while the final folder is filled: the staged checkpoints go to `<folder>/checkpoints/`."""
        if self.staging.is_dir():
            shutil.move(str(self.staging), str(Path(folder) / CHECKPOINTS))

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def checkpoint_fraction(folder: Path) -> float | None:
    """The fraction of training a checkpoint folder was saved at (checkpoint.json), None when it does not say."""
    info = Path(folder) / CHECKPOINT_INFO
    return json.loads(info.read_text(encoding="utf-8"))["fraction"] if info.is_file() else None


def saved_checkpoints(model_folder: Path) -> list[Path]:
    """A model folder's checkpoints in training order (by fraction), the final model not included."""
    root = Path(model_folder) / CHECKPOINTS
    found = [p for p in root.glob("*/") if (p / CHECKPOINT_INFO).is_file()] if root.is_dir() else []
    return sorted(found, key=checkpoint_fraction)
