"""Switch Transformers: encoder–decoder, top-1 routers with an expert capacity; the decoder is read by teacher
forcing (docs/definitions.md)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from core.models.adapters.scoring import TOP1_CAPACITY
from core.models.adapters.base import Captured, Converter, Copy, ModelAdapter, Routers, modules_by_class_suffix
from core.models.adapters.switch_experts import set_switch_experts_kernel
from core.types import DecoderRead, ExpertsKernel, Stack

DECODER_NOTE = "decoder: each token's routing is read where it is the decoder's input (teacher forcing)"


def switch_routers(model: torch.nn.Module) -> Routers:
    """Switch router modules by stack, as (block index, module), in block order (also used by the demo trainer)."""
    found: Routers = {}
    for name, block, module in modules_by_class_suffix(model, ("Top1Router",), "block"):
        found.setdefault(name.split(".")[0], []).append((block, module))
    return {k: sorted(v, key=lambda bm: bm[0]) for k, v in found.items()}


class SwitchAdapter(ModelAdapter):
    scoring = TOP1_CAPACITY

    family = "switch"
    architecture = "encoder-decoder"
    stacks: tuple[Stack, ...] = ("encoder", "decoder")
    top_k = 1
    compares_with_paper = True
    decoder_reads: tuple[DecoderRead, ...] = ("input", "label")
    causal_stacks: tuple[Stack, ...] = ("decoder",)  # causal attention; capacity queues fill in token order per row
    copy = Copy(
        label="Switch Transformer (sparsely trained, top-1 routing)",
        stack_notes={"decoder": DECODER_NOTE},
        demo_hint="The google/switch-base-N checkpoints are in the picker wherever the Hugging Face Hub is reachable.",
    )

    def __init__(self, config: Any = None) -> None:
        self.num_experts = int(getattr(config, "num_experts", 0) or 0)
        self.capacity = getattr(config, "expert_capacity", None)
        pad = getattr(config, "pad_token_id", None)
        start = getattr(config, "decoder_start_token_id", None)
        # T5's decoder starts from the pad token unless the config names another start token.
        self.decoder_start_id = int(start if start is not None else (pad if pad is not None else 0))

    @staticmethod
    def model_class() -> Any:
        from transformers import AutoModelForSeq2SeqLM

        return AutoModelForSeq2SeqLM  # the decoder lives in the seq2seq class

    def routers(self, model: torch.nn.Module) -> Routers:
        return switch_routers(model)

    objective = "span corruption"

    def lm_model_class(self):
        return self.model_class()  # the seq2seq class already has the LM head

    def without_expert(self, output, expert: int):
        """The expert's tokens lose their dispatch: exactly what a capacity drop does to a token (no expert output:
        the sparse block gives it zeros, and only the residual carries it on)."""
        dispatch, top_prob, logits = output
        dispatch = dispatch.clone()
        dispatch[..., expert] = 0
        return dispatch, top_prob, logits

    def unembed(self, lm_model: torch.nn.Module, hidden: torch.Tensor, stack: Stack = "decoder") -> torch.Tensor:
        """The decoder's final norm, T5's d_model^-0.5 rescaling where the head is tied, then the LM head."""
        if stack != "decoder" or not hasattr(lm_model, "lm_head"):
            raise NotImplementedError("The logit lens reads the decoder's experts of a model loaded with its LM head.")
        h = lm_model.get_decoder().final_layer_norm(hidden)
        if getattr(lm_model.config, "tie_word_embeddings", False):
            h = h * lm_model.config.d_model**-0.5
        return lm_model.lm_head(h)

    def route_of(self, output) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(dispatch (.., E) one-hot, top probability (.., 1), logits (.., E)) → one row per token; a dropped token's
        chosen expert is its argmax with weight 0."""
        dispatch, top_prob, logits = output
        e = logits.shape[-1]
        flat = logits.reshape(-1, e)
        return flat, flat.argmax(-1, keepdim=True), top_prob.reshape(-1, 1) * (dispatch.reshape(-1, e).sum(-1,
                                                                                                      keepdim=True) > 0)

    def handed(self, output) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The dispatch mask's expert, the top probability, and the tokens with no expert (dropped)."""
        dispatch, top_prob, _logits = output
        mask = dispatch.reshape(-1, dispatch.shape[-1])
        return mask.argmax(-1, keepdim=True), top_prob.reshape(-1, 1), mask.sum(-1) == 0

    def reroute(self, output, router, call, delta, k=None):
        """Top-1 of the softmax of the shifted logits, weighted by its probability (no capacity: a re-routed token is
        dispatched)."""
        if k not in (None, 1):
            raise NotImplementedError("Switch routes each token to one expert: top-k cannot be changed.")
        logits = self.route_of(output)[0]
        top, chosen = torch.softmax(logits.float() + delta, dim=-1).max(-1, keepdim=True)
        return chosen, top

    def weights_for(self, output, router, call, rows, chosen):
        if chosen.shape[-1] != 1:
            raise NotImplementedError("Switch routes each token to one expert: force one expert at a time.")
        return torch.softmax(self.route_of(output)[0][rows].float(), dim=-1).gather(-1, chosen)

    def with_route(self, output, rows: torch.Tensor, chosen: torch.Tensor, weights: torch.Tensor):
        """Rewritten dispatch and top probability for `rows` (a forced token is dispatched whatever the capacity)."""
        dispatch, top_prob, logits = output
        e = logits.shape[-1]
        mask = torch.nn.functional.one_hot(chosen[:, 0].long(), e).to(dispatch.dtype)
        new_dispatch = torch.where(rows[:, None], mask, dispatch.reshape(-1, e)).reshape(dispatch.shape)
        new_prob = torch.where(rows[:, None], weights[:, :1].to(top_prob.dtype), top_prob.reshape(-1, 1))
        return new_dispatch, new_prob.reshape(top_prob.shape), logits

    def router_weight(self, router: torch.nn.Module) -> torch.Tensor | None:
        return router.classifier.weight.detach()  # Top1Router: logits = classifier(input), no bias

    def converter(self, stack: Stack, block: int) -> Converter:
        return self.to_probs

    def dispatched(self, args: tuple) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Switch hands its experts a one-hot dispatch mask (N, 1, E); a row of zeros is a dropped token."""
        mask = args[1].reshape(args[1].shape[0], -1)
        return mask.argmax(-1, keepdim=True), args[2].reshape(-1, 1), mask.sum(-1) == 0

    def run_one_expert(self, experts: torch.nn.Module, hidden: torch.Tensor, expert: int) -> torch.Tensor:
        n = hidden.shape[0]
        mask = torch.zeros((n, 1, self.num_experts), dtype=torch.long, device=hidden.device)
        mask[..., expert] = 1
        return experts(hidden, mask, torch.ones((n, 1), dtype=hidden.dtype, device=hidden.device))

    @contextlib.contextmanager
    def without_capacity(self, model: torch.nn.Module) -> Iterator[None]:
        """transformers' Top1Router masks tokens whose priority exceeds `expert_capacity`; lift it on every router
        for the duration (restored afterwards, also on error)."""
        routers = [module for found in self.routers(model).values() for _block, module in found]
        saved = [r.expert_capacity for r in routers]
        try:
            for r in routers:
                r.expert_capacity = 2**31 - 1
            yield
        finally:
            for r, capacity in zip(routers, saved):
                r.expert_capacity = capacity

    @staticmethod
    def to_probs(output) -> Captured:
        """Router output (dispatch mask, top prob, logits) → float32 softmax, dropped mask, chosen expert. The chosen
        expert is the model's own: the dispatch mask's where the token was kept, else the argmax transformers takes —
        over the softmax cast to the model's dtype (`top_prob`'s), where bf16 or fp16 rounding can tie two experts
        that float32 tells apart. The distribution stays the float32 softmax of the logits."""
        dispatch, top_prob, logits = output
        probs = torch.softmax(logits.float(), dim=-1)
        own = torch.softmax(logits, dim=-1, dtype=logits.dtype).to(top_prob.dtype).argmax(dim=-1, keepdim=True)
        dropped = dispatch.sum(dim=-1) == 0
        chosen = torch.where(dropped[..., None], own, dispatch.argmax(dim=-1, keepdim=True))
        return probs, dropped, chosen

    def run(self, model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, stacks: tuple[Stack, ...],
            decoder_read: DecoderRead = "input", causal_width: int | None = None) -> None:
        """Encoder, then (if asked) the decoder by teacher forcing on [start] + ids; no LM head (`decoder_offset`
        says which rows are read). The decoder reads the whole encoder output but only the first `causal_width`
        tokens: its routing there is the same as with the rest (causal attention, per-row capacity in token order)."""
        enc_out = model.get_encoder()(input_ids=ids, attention_mask=mask, return_dict=True).last_hidden_state
        if "decoder" in stacks:
            enc_mask = mask
            ids, mask = ids[:, :causal_width], mask[:, :causal_width]
            # Position t+1 has token t as its input. Causality makes positions 0..n-1 identical to
            # shift_right(input_ids); the extra last position gives EOS a row.
            start = torch.full((ids.shape[0], 1), self.decoder_start_id, dtype=torch.long, device=ids.device)
            model.get_decoder()(input_ids=torch.cat([start, ids], dim=1),
                          attention_mask=torch.cat([torch.ones_like(start), mask], 1),
                          encoder_hidden_states=enc_out, encoder_attention_mask=enc_mask, use_cache=False, return_dict=True)

    def set_experts_kernel(self, model: torch.nn.Module, kernel: ExpertsKernel) -> str:
        """Switch's experts are a ModuleDict transformers always loops over: the grouped forward is ours."""
        return set_switch_experts_kernel(model, kernel)

    def decoder_offset(self, decoder_read: DecoderRead = "input") -> int:
        """Reading "input" discards the start position (row t = position t+1, where token t is the input); reading
        "label" keeps it (row t = position t, where token t is predicted, as with `labels=input_ids`)."""
        return 1 if decoder_read == "input" else 0
