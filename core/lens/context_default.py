"""The evaluation that picks Compare's and Learn's offline default (core.studies.context_default), written where the
registry reads it: models/context_default.json."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from core.data.datasets import load_wic
from core.models.loading import load_model
from core.models.registry import CONTEXT_DEFAULT_FILE, ROUTED_PREFIX, list_models
from core.studies.context_default import SPLIT, choose, wic_dev_effects
from core.studies.targets import ProgressFactory, no_progress
from core.tracing.tracer import Tracer

REFERENCE = ("moefied-minilm-8", "moefied-minilm-16", "moefied-minilm-32")  # activation-mass routing, beside


def choose_context_default(data_dir: str | None = None, models: Sequence[str] | None = None,
                           progress: ProgressFactory = no_progress, out: Path = CONTEXT_DEFAULT_FILE) -> dict:
    """Evaluate the trained-router MiniLMs (and the activation-mass ones for reference) on WiC dev, choose, write."""
    names = list(models or [e.name for e in list_models() if e.name.startswith(ROUTED_PREFIX)] + list(REFERENCE))
    wic = load_wic(data_dir, splits=(SPLIT,))
    tracers = [Tracer(load_model(name, dtype="float32")) for name in names]
    effects = wic_dev_effects(tracers, wic, progress)
    chosen = choose(effects)
    record = {"model": chosen, "split": SPLIT, "pairs": len(wic), "seed": 0,
              "rule": "largest mean over sparse layers of Cohen's d (same − different meaning) of the target word's "
                      "routing JSS on WiC dev, among models with a trained router",
              "mean_d": effects.groupby("model", sort=False).d.mean().round(4).to_dict(),
              "effects": json.loads(effects.to_json(orient="records"))}
    out.write_text(json.dumps(record, indent=1))
    return record
