"""Small Switch Transformer configurations: the bundled demos and the test models share this."""
from __future__ import annotations

from transformers import SwitchTransformersConfig


def small_switch_config(
    vocab_size: int,
    num_experts: int,
    d_model: int = 128,
    num_layers: int = 4,
    num_heads: int = 4,
    d_ff: int = 256,
    expert_capacity: int = 64,
    sparse_step: int = 2,
) -> SwitchTransformersConfig:
    """Encoder–decoder, a sparse block every `sparse_step` blocks (blocks 1, 3, … as in switch-base)."""
    return SwitchTransformersConfig(
        vocab_size=vocab_size,
        d_model=d_model,
        d_kv=d_model // num_heads,
        d_ff=d_ff,
        num_layers=num_layers,
        num_decoder_layers=num_layers,
        num_heads=num_heads,
        num_experts=num_experts,
        expert_capacity=expert_capacity,
        num_sparse_encoder_layers=num_layers // sparse_step,
        num_sparse_decoder_layers=num_layers // sparse_step,
        encoder_sparse_step=sparse_step,
        decoder_sparse_step=sparse_step,
        router_jitter_noise=0.01,
        router_z_loss_coef=0.001,
        router_aux_loss_coef=0.01,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        tie_word_embeddings=True,
        dropout_rate=0.0,
    )


def switch_base_config(num_experts: int) -> SwitchTransformersConfig:
    """The shape of google/switch-base-N (config.json of the Hub repos): for estimates and benchmarks
    without downloading anything."""
    config = small_switch_config(32128, num_experts, d_model=768, num_layers=12, num_heads=12, d_ff=3072,
                                 expert_capacity=64)
    config.router_aux_loss_coef = 0.001  # the Hub configs' training settings (irrelevant for tracing)
    config.dropout_rate = 0.1
    return config
