"""A trained-router folder (`models/minilm-router-E/`): router.json (settings, the dense weights' sha256, timings,
fidelity) and routers.safetensors (per layer the routers, skip vectors and neuron partition; the experts' weights and
layer norms only where a distillation changed them — otherwise they are the dense model's own)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.torch import load_file, save_file
from torch import nn

from core.models.routed_experts import install

WEIGHTS_FILE = "routers.safetensors"
RECORD_FILE = "router.json"
ROUTING_PARTS = ("skip", "neuron_ids")  # what every folder ships, with the router's own state (router.*); the rest is
# the dense model's


def save(model: nn.Module, record: dict, folder: Path) -> None:
    """The trained parts (every RoutedExperts block and the post-FFN layer norms) and the record, atomically."""
    from core.atomic_folder import write_folder

    distilled = bool(record["settings"].get("distill_steps"))
    tensors = {}
    for i, layer in enumerate(model.encoder.layer):
        for name, tensor in layer.intermediate.state_dict().items():
            if distilled or name in ROUTING_PARTS or name.startswith("router."):
                tensors[f"layer{i}.experts.{name}"] = tensor.contiguous()
        if distilled:
            for name, tensor in layer.output.LayerNorm.state_dict().items():
                tensors[f"layer{i}.norm.{name}"] = tensor.contiguous()

    def write(tmp: Path) -> None:
        save_file(tensors, str(tmp / WEIGHTS_FILE))
        (tmp / RECORD_FILE).write_text(json.dumps(record, indent=1))

    write_folder(folder, write)


def load_into(model: nn.Module, folder: Path) -> dict:
    """Install the trained routers and experts of `folder` into a dense BERT-style encoder (in place); its record.
    The dense weights must be the ones the routers were trained on (sha256 in the record, checked by the caller)."""
    record = json.loads((folder / RECORD_FILE).read_text())
    tensors = load_file(str(folder / WEIGHTS_FILE))
    s = record["settings"]
    n_layers = len(model.encoder.layer)
    parts = []
    for i in range(n_layers):
        ids = tensors[f"layer{i}.experts.neuron_ids"].numpy()
        part = np.empty(ids.size, dtype=np.int64)
        part[ids.reshape(-1)] = np.repeat(np.arange(ids.shape[0]), ids.shape[1])
        parts.append(part)
    install(model, parts, int(s["top_k"]), s.get("design", "softmax"), int(s.get("seed", 0)))
    for i, layer in enumerate(model.encoder.layer):
        own = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"layer{i}.experts.")}
        missing = set(ROUTING_PARTS) - set(own)
        wanted = {f"router.{n}" for n in layer.intermediate.router.state_dict()}
        missing |= wanted - set(own)
        if missing:
            raise KeyError(f"layer {i} lacks {', '.join(sorted(missing))}")
        layer.intermediate.load_state_dict(own, strict=False)
        norm = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"layer{i}.norm.")}
        if norm:
            layer.output.LayerNorm.load_state_dict(norm)
    return record
