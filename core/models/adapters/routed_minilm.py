"""The MoE-fied MiniLM with trained routers (`minilm-router-E`): a real pretrained dense encoder whose FFNs were split
into E experts, with a linear router per layer trained afterwards (MoEfication's second half,
core.training.router_training). The routing distribution is the router's softmax; the top-k experts' neurons are the
only ones computed (core.models.routed_experts)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from core.models.adapters.base import Captured, Converter, Copy, ModelAdapter, Routers
from core.models.router_designs import LABELS, fitted_linear
from core.types import DecoderRead, Stack

ROUTED_FAMILY = "moefied-router"
NEURONS = 1536  # all-MiniLM-L6-v2's FFN width: the one base these folders are trained on (its sha256 is checked)


class RoutedMinilmAdapter(ModelAdapter):
    """A BERT-style encoder with RoutedExperts installed from a trained-router folder (router.json + weights)."""

    family = ROUTED_FAMILY
    architecture = "encoder (MoE-fied)"
    stacks: tuple[Stack, ...] = ("encoder",)
    has_router = True
    objective = "dense agreement"  # ablation loss: 1 − cosine of each token's final state to the dense model's

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        record = json.loads((self.folder / "router.json").read_text())
        s = record["settings"]
        self.num_experts = int(s["experts"])
        self.top_k = int(s["top_k"])
        self.record = record
        self.design = str(s.get("design", "softmax"))
        self._routers: dict[int, torch.nn.Module] = {}
        if self.design == "expert-choice":
            self.one_text_per_forward = ("expert choice: each expert takes its top tokens of the text, so a text's "
                                         "routing depends on the text it is batched with; each text is its own batch")
        design = "" if self.design == "softmax" else f"; routing-lab design: {LABELS.get(self.design, self.design)}"
        self.copy = Copy(
            label=f"MoE-fied MiniLM with trained routers (top-{self.top_k} of {self.num_experts}{design})",
            caveat=("minilm-router-E models: all-MiniLM-L6-v2, pretrained dense, with routers trained afterwards on NLTK "
                    "text; only each token's top-k experts run (k in every figure title); not a model pretrained "
                    "sparse. One stack: only encoder rows exist."),
            figure_tag=f" · MiniLM + routers trained afterwards (top-{self.top_k} of {self.num_experts})",
            learn_note=f"""**The model in use is all-MiniLM-L6-v2 with routers trained afterwards.** Its six feed-forward
layers were split into {self.num_experts} experts of {NEURONS // self.num_experts} neurons each, and a linear router per layer
was trained on NLTK text to predict which experts a token needs. For each token only the top-{self.top_k} experts'
neurons run; the other {NEURONS // self.num_experts * (self.num_experts - self.top_k)} neurons of the layer are skipped.
The encoder itself was pretrained dense, not sparse; every chosen expert runs (no capacity limit).""",
        )

    def after_load(self, model: torch.nn.Module) -> None:
        from core.errors import ModelNotAvailableError
        from core.models.router_folder import load_into

        try:
            load_into(model, self.folder)
        except Exception as err:  # noqa: BLE001 - any damage (a truncated safetensors file too) is one clear error
            raise ModelNotAvailableError(f"The trained routers in {self.folder.name} do not fit this encoder ({err}); "
                                         "rebuild them with `python -m core train-router`.") from None
        self._routers = {i: layer.intermediate.router for i, layer in enumerate(model.encoder.layer)}

    def revision_tag(self) -> str:
        """The trained weights decide the routing (the record's measures do not): their hash, with E and k."""
        digest = hashlib.sha256((self.folder / "routers.safetensors").read_bytes()).hexdigest()[:12]
        return f"-router-E{self.num_experts}-k{self.top_k}-{digest}"

    def kind_sentence(self, is_demo: bool) -> str:
        return (f"A trained router over a real pretrained encoder: all-MiniLM-L6-v2 with its feed-forward layers split "
                f"into {self.num_experts} experts and routers trained afterwards (top-{self.top_k} run per token) — not "
                "a model pretrained sparse.")

    def sidebar_note(self) -> str:
        s = self.record["settings"]
        fid = {c["k"]: c["cosine_mean"] for c in self.record["fidelity"]["curve"]}
        return (f"**all-MiniLM-L6-v2 with routers trained afterwards**: a real pretrained dense encoder, its feed-forward "
                f"layers split into {self.num_experts} experts; linear routers trained on NLTK text (seed {s['seed']}); "
                f"top-{self.top_k} of {self.num_experts} run per token. Not a model pretrained sparse. Sentence embeddings "
                f"keep cosine {fid.get(self.top_k, float('nan')):.3f} to the dense model's.")

    def context_note(self, word: str) -> str:
        return ""

    def choice_note(self, chosen) -> str:
        per = NEURONS // self.num_experts
        ran = sorted(int(e) for e in chosen)
        skipped = [e for e in range(self.num_experts) if e not in ran]
        return (f"Only the chosen experts' neurons run for this token: {', '.join(f'e{e}' for e in ran)} — "
                f"{len(ran) * per:,} of {per * self.num_experts:,} neurons. The {len(skipped) * per:,} neurons of "
                f"{', '.join(f'e{e}' for e in skipped)} did not run: in their place the layer adds what each of them "
                "outputs on average over training text (a fixed stand-in, the same for every token).")

    def routers(self, model: torch.nn.Module) -> Routers:
        return {"encoder": [(i, layer.intermediate.router) for i, layer in enumerate(model.encoder.layer)]}

    def router_weight(self, router: torch.nn.Module) -> torch.Tensor | None:
        """logits = input @ weightᵀ (no bias); hash routing has no weight (its table is not a linear map)."""
        linear = fitted_linear(router)
        return None if linear is None else linear.weight.detach()

    def chosen_weights(self, output) -> torch.Tensor:
        """Its chosen experts' outputs are summed unweighted (as the dense FFN sums its neurons): equal weights."""
        return torch.ones((*output.shape[:-1], self.top_k), device=output.device)

    def converter(self, stack: Stack, layer: int) -> Converter:
        k = self.top_k
        select = getattr(self._routers.get(layer), "select", None)

        def to_probs(logits) -> Captured:
            probs = torch.softmax(logits.float(), dim=-1)
            if select is None:
                dropped = torch.zeros(probs.shape[:-1], dtype=torch.bool, device=probs.device)
                return probs, dropped, logits.topk(k, dim=-1).indices
            chosen = select(logits)  # the design's own selection, as the block runs it
            order = (chosen.float() * 2 + probs).topk(k, dim=-1).indices  # the chosen first, by probability
            return probs, ~chosen.any(-1), order

        return to_probs

    def without_expert(self, output: Any, expert: int) -> Any:
        """The expert can no longer be chosen: its logit is −∞, so the top-k is chosen among the others (the experts'
        outputs are summed unweighted, as in the dense FFN, so nothing is renormalised)."""
        logits = output.clone()
        logits[..., expert] = float("-inf")
        return logits

    def run(self, model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, stacks: tuple[Stack, ...],
            decoder_read: DecoderRead = "input", causal_width: int | None = None) -> None:
        model(input_ids=ids, attention_mask=mask, return_dict=True)

    def dense_reference(self, model: torch.nn.Module):
        """While open, every expert runs (k = E): the dense computation, the ablation's target."""
        from core.models.routed_experts import mode

        return mode(model, "dense")
