"""A dense BERT-style encoder MoE-fied after training (one stack): the FFN's intermediate neurons are clustered into
experts, and a token's "routing" at a layer is the share of its positive FFN activation mass that falls in each
cluster (MoEfication, Zhang et al. 2022)."""
from __future__ import annotations

import numpy as np
import torch

from core.models.adapters.scoring import ACTIVATION_MASS
from core.models.adapters.base import Captured, Converter, Copy, ModelAdapter, Routers
from core.types import DecoderRead, Stack

MOEFIED_CAVEAT = ("dense model MoE-fied after training; routing = activation mass per neuron cluster; "
                  "not a sparsely trained model")
MOEFIED_MODEL_TYPES = ("bert",)  # dense encoders that can be MoE-fied (encoder.layer[i].intermediate)
PARTITION_SEED = 0


class MoefiedAdapter(ModelAdapter):
    scoring = ACTIVATION_MASS

    """`partition[l][i]` = expert of intermediate neuron i at layer l (set by `after_load`, or given)."""

    family = "moefied"
    architecture = "encoder (MoE-fied)"
    stacks: tuple[Stack, ...] = ("encoder",)
    top_k = 1
    has_router = False
    copy = Copy(
        label=MOEFIED_CAVEAT,
        caveat=f"MoE-fied models (moefied-*): a {MOEFIED_CAVEAT}. One stack: only encoder rows exist.",
        figure_tag=" · MoE-fied dense model: activation-mass routing",
        learn_note="""**The model in use is MoE-fied, not a Switch Transformer.** all-MiniLM-L6-v2 is a dense encoder: every
feed-forward neuron runs for every token. Routing Lens groups each layer's 1,536 neurons into experts after
training (k-means over their input weights); a token's "routing" is the share of its positive activation in
each group. It shows how context changes which parts of the feed-forward layer a word uses — but no router
was trained and nothing is dropped. Pick a Switch model in the sidebar for real routing.""",
    )

    def __init__(self, num_experts: int, partition: list[np.ndarray] | None = None) -> None:
        self.num_experts = int(num_experts)
        self.partition = partition or []
        self._onehots: dict[tuple[int, str, torch.dtype], torch.Tensor] = {}

    def after_load(self, model: torch.nn.Module) -> None:
        from core.models.moefy import partition

        self.partition, _cached = partition(model, self.num_experts, seed=PARTITION_SEED)

    def revision_tag(self) -> str:
        return f"-E{self.num_experts}-seed{PARTITION_SEED}"

    def sidebar_note(self) -> str:
        return (f"**MoE-fied dense encoder**: its FFN neurons clustered into {self.num_experts} experts after "
                f"training; routing = activation mass per neuron cluster; not a sparsely trained model. One stack "
                "(encoder).")

    def context_note(self, word: str) -> str:
        return f"Model: {self.copy.label}."

    def routers(self, model: torch.nn.Module) -> Routers:
        return {"encoder": [(i, layer.intermediate) for i, layer in enumerate(model.encoder.layer)]}

    def onehot(self, layer: int, device, dtype=torch.float32) -> torch.Tensor:
        key = (layer, str(device), dtype)
        if key not in self._onehots:
            labels = torch.as_tensor(self.partition[layer], dtype=torch.long)
            self._onehots[key] = torch.nn.functional.one_hot(labels, self.num_experts).to(device=device, dtype=dtype)
        return self._onehots[key]

    def mass_probs(self, activations: torch.Tensor, layer: int) -> torch.Tensor:
        """(B, S, N) FFN activations → (B, S, E) share of positive activation mass per expert (rows sum to 1)."""
        from core.models.moefy import mass_shares

        pos = activations.float().clamp_min(0)
        return mass_shares(pos @ self.onehot(layer, pos.device))

    def router_weight(self, router: torch.nn.Module) -> torch.Tensor | None:
        return None  # no trained router: "routing" is activation mass per neuron cluster

    def converter(self, stack: Stack, layer: int) -> Converter:
        def to_probs(output) -> Captured:
            probs = self.mass_probs(output, layer)
            dropped = torch.zeros(probs.shape[:2], dtype=torch.bool, device=probs.device)
            return probs, dropped, probs.argmax(dim=-1, keepdim=True)

        return to_probs

    def run(self, model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, stacks: tuple[Stack, ...],
            decoder_read: DecoderRead = "input", causal_width: int | None = None) -> None:
        model(input_ids=ids, attention_mask=mask, return_dict=True)


class MoefiedSource:
    """What loading does differently for a MoE-fied registry entry, so core.models.loading asks one question
    (`ModelEntry.moefied`) instead of branching on it: where the dense weights are (the packaged MiniLM copy, a
    folder or a Hub id), which configs qualify, the adapter, and the packaged copy's weights check."""

    def __init__(self, location: str, num_experts: int | None, routers: str = "") -> None:
        from core.models.moefy import PACKAGED_NAME, packaged_model_dir

        self.packaged = location == PACKAGED_NAME
        self.location = str(packaged_model_dir()) if self.packaged else location
        self.num_experts = int(num_experts or 8)
        self.routers = routers  # a trained-router folder (minilm-router-E): routing by its routers, not by mass

    @property
    def remote(self) -> bool:
        """Fetched from the Hub (no such folder here)."""
        from pathlib import Path

        return not Path(self.location).is_dir()

    def check(self, config) -> None:
        if config.model_type not in MOEFIED_MODEL_TYPES:
            from core.errors import UnsupportedModelError

            raise UnsupportedModelError(f"{self.location!r} is a {config.model_type!r} model; MoE-fication supports "
                                        f"BERT-style encoders ({', '.join(MOEFIED_MODEL_TYPES)}).")

    def adapter(self) -> ModelAdapter:
        if self.routers:
            from pathlib import Path

            from core.errors import ModelNotAvailableError
            from core.models.adapters.routed_minilm import RoutedMinilmAdapter
            from core.models.moefy import PACKAGED_WEIGHTS_SHA256

            folder = Path(self.routers)
            if not (folder / "router.json").is_file():
                raise ModelNotAvailableError(f"No trained routers in {folder.name}: rebuild them with "
                                             "`python -m core train-router`.")
            try:
                adapter = RoutedMinilmAdapter(folder)
            except (OSError, ValueError, KeyError, TypeError):
                raise ModelNotAvailableError(f"The trained routers in {folder.name} are damaged (router.json): rebuild "
                                             "them with `python -m core train-router`.") from None
            if self.packaged and adapter.record.get("base_sha256") != PACKAGED_WEIGHTS_SHA256:
                raise ModelNotAvailableError(f"The routers in {folder.name} were trained on other weights than the "
                                             "packaged all-MiniLM-L6-v2: rebuild them with `python -m core train-router`.")
            return adapter
        return MoefiedAdapter(self.num_experts)

    def verify_weights(self) -> None:
        """The packaged copy's checksums, before any weight is read (a folder or Hub model has none to check)."""
        if self.packaged:
            from pathlib import Path

            from core.models.moefy import verify_packaged_weights

            verify_packaged_weights(Path(self.location))
