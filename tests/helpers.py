"""Tiny real Switch checkpoints for tests: built from a config, saved, loaded back through the loader."""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import SwitchTransformersForConditionalGeneration

from core.switch_config import small_switch_config
from core.tokenizer_train import train_t5_tokenizer

CORPUS = [
    "I sat on the river bank and watched the water flow.",
    "The bank raised its interest rates again this spring.",
    "A bat flew out of the cave at dusk.",
    "He swung the bat and hit the ball over the fence.",
    "The spring in the mattress is broken.",
    "We light a match to start the fire.",
    "The match ended in a draw after extra time.",
    "Routing in sparsely gated language models responds to context.",
    "She deposited money at the bank before noon.",
    "Birds sing in the trees every spring morning.",
]


def build_tiny_switch(folder: Path, num_experts: int = 8, d_model: int = 32, seed: int = 0,
                      expert_capacity: int = 64, router_scale: float = 2.0) -> Path:
    """Save a random tiny Switch model + trained tokenizer; routers scaled so probabilities are not one-hot."""
    torch.manual_seed(seed)
    tok = train_t5_tokenizer(CORPUS * 20, vocab_size=260, extra_ids=100)
    config = small_switch_config(len(tok), num_experts, d_model=d_model, num_layers=4, num_heads=2,
                                 d_ff=2 * d_model, expert_capacity=expert_capacity)
    model = SwitchTransformersForConditionalGeneration(config).eval()
    with torch.no_grad():
        for name, module in model.named_modules():
            if name.endswith("router"):
                # logits of std ~router_scale: soft, informative distributions like a trained router's
                module.classifier.weight.normal_(0.0, router_scale / d_model**0.5)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
