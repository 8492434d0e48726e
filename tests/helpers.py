"""Tiny real Switch checkpoints for tests: built from a config, saved, loaded back through the loader."""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import SwitchTransformersForConditionalGeneration

from core.models.adapters.base import modules_by_class_suffix
from core.models.adapters.decoder_only import ROUTER_CLASS_SUFFIXES
from core.training.switch_config import small_switch_config
from core.training.tokenizer_train import train_t5_tokenizer

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


TINY_DECODER_FAMILIES = ("mixtral", "olmoe", "qwen2_moe", "qwen3_moe", "qwen3_next", "granitemoe", "granitemoeshared",
                         "phimoe", "jamba", "deepseek_v2", "deepseek_v3", "glm4_moe", "dots1", "gpt_oss", "minimax",
                         "minimax_m2", "ernie4_5_moe", "hunyuan_v1_moe", "llama4", "lfm2_moe")  # three layers, 8 × top-2


def tiny_decoder_config(family: str, vocab_size: int, d_model: int = 32, experts: int = 8, top_k: int = 2):
    """A tiny random config of each decoder-only family (three layers; some families keep one dense)."""
    from transformers import (
        DeepseekV2Config,
        GraniteMoeConfig,
        JambaConfig,
        MixtralConfig,
        OlmoeConfig,
        PhimoeConfig,
        Qwen2MoeConfig,
        Qwen3MoeConfig,
    )

    common = dict(vocab_size=vocab_size, hidden_size=d_model, intermediate_size=2 * d_model, num_hidden_layers=3,
                  num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024, pad_token_id=0,
                  bos_token_id=None, eos_token_id=1, num_experts_per_tok=top_k, tie_word_embeddings=False)
    if family == "mixtral":
        return MixtralConfig(**common, num_local_experts=experts)
    if family == "olmoe":
        return OlmoeConfig(**common, num_experts=experts)
    if family == "qwen2_moe":  # layer 1 dense (mlp_only_layers): its router must not be found
        return Qwen2MoeConfig(**common, num_experts=experts, moe_intermediate_size=d_model,
                              shared_expert_intermediate_size=d_model, mlp_only_layers=[1])
    if family == "qwen3_moe":
        return Qwen3MoeConfig(**common, num_experts=experts, moe_intermediate_size=d_model, head_dim=16,
                              mlp_only_layers=[1])
    if family == "granitemoe":
        return GraniteMoeConfig(**common, num_local_experts=experts)
    if family == "phimoe":
        return PhimoeConfig(**common, num_local_experts=experts)
    if family == "jamba":  # Mamba and attention layers; experts in layers 1 and 3 (PyTorch Mamba path on CPU)
        common["num_hidden_layers"] = 4
        return JambaConfig(**common, num_experts=experts, expert_layer_period=2, expert_layer_offset=1,
                           attn_layer_period=2, attn_layer_offset=1, mamba_d_state=4, mamba_dt_rank=4)
    if family == "deepseek_v2":  # first layer dense; group-limited routing: 2 groups of 4, tokens pick 1 group
        common["num_key_value_heads"] = common["num_attention_heads"]  # MLA: no grouped K/V
        return DeepseekV2Config(**common, n_routed_experts=experts, n_shared_experts=1, moe_intermediate_size=d_model,
                                first_k_dense_replace=1, kv_lora_rank=16, q_lora_rank=None, qk_rope_head_dim=8,
                                qk_nope_head_dim=8, v_head_dim=16, topk_method="group_limited_greedy", n_group=2,
                                topk_group=1)
    return _newer_family_config(family, common, experts)


def _newer_family_config(family: str, common: dict, experts: int):
    """The families added with per-family scoring: each its own config class, three layers, eight experts."""
    from transformers import AutoConfig

    common = {**common, "head_dim": 16}
    groups = dict(n_routed_experts=experts, n_shared_experts=1, moe_intermediate_size=32, first_k_dense_replace=1,
                  n_group=2, topk_group=1)
    if family == "deepseek_v3":  # MLA; layer 0 dense; sigmoid + selection bias inside the best of 2 groups
        mla = {k: v for k, v in common.items() if k != "head_dim"}  # MLA's head sizes are its own
        return AutoConfig.for_model(family, **{**mla, "num_key_value_heads": 2}, **groups, kv_lora_rank=16,
                                    q_lora_rank=None, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16)
    if family in ("glm4_moe", "dots1"):
        return AutoConfig.for_model(family, **common, **groups)
    if family == "gpt_oss":
        return AutoConfig.for_model(family, **common, num_local_experts=experts, sliding_window=16,
                                    layer_types=["sliding_attention", "full_attention", "sliding_attention"])
    if family in ("minimax_m2", "granitemoeshared"):
        return AutoConfig.for_model(family, **common, num_local_experts=experts,
                                    **({"shared_intermediate_size": 32} if family == "granitemoeshared" else {}))
    if family == "minimax":
        return AutoConfig.for_model(family, **common, num_local_experts=experts, layer_types=["full_attention"] * 3)
    if family == "qwen3_next":  # linear attention in layers 0 and 2; a gated shared expert
        return AutoConfig.for_model(family, **common, num_experts=experts, moe_intermediate_size=32,
                                    shared_expert_intermediate_size=32, linear_key_head_dim=8, linear_value_head_dim=8,
                                    linear_num_key_heads=2, linear_num_value_heads=2,
                                    layer_types=["linear_attention", "full_attention", "linear_attention"])
    if family == "ernie4_5_moe":
        return AutoConfig.for_model(family, **common, moe_num_experts=experts, moe_intermediate_size=32,
                                    moe_num_shared_experts=1, moe_layer_start_index=0)
    if family == "hunyuan_v1_moe":
        return AutoConfig.for_model(family, **common, num_experts=experts, moe_topk=common["num_experts_per_tok"])
    if family == "llama4":  # the text model; every layer sparse, a shared MLP beside the experts
        return AutoConfig.for_model("llama4_text", **{**common, "intermediate_size": 32}, num_local_experts=experts,
                                    intermediate_size_mlp=64, interleave_moe_layer_step=1)
    if family == "lfm2_moe":  # a convolution layer between attention layers
        return AutoConfig.for_model(family, **common, num_experts=experts, moe_intermediate_size=32,
                                    num_dense_layers=0, layer_types=["full_attention", "conv", "full_attention"])
    from core.models.tiny import tiny_config  # any other type: its own config class shrunk (two layers)

    return tiny_config(family)


def build_tiny_decoder(folder: Path, family: str = "mixtral", seed: int = 0, router_scale: float = 2.0,
                       **config_kwargs) -> Path:
    """Save a random tiny decoder-only MoE (as its *ForCausalLM, the way Hub checkpoints are stored) with
    a trained tokenizer; routers scaled so their distributions are soft, not uniform."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    tok = train_t5_tokenizer(CORPUS * 20, vocab_size=260, extra_ids=0)
    config = tiny_decoder_config(family, len(tok), **config_kwargs)
    if family in TINY_DECODER_FAMILIES:
        model = AutoModelForCausalLM.from_config(config).eval()
    else:
        from core.models.tiny import model_class

        model = model_class(family, config)(config).eval()
    with torch.no_grad():
        for _name, _layer, module in modules_by_class_suffix(model, (*ROUTER_CLASS_SUFFIXES, "Llama4Router"), "layers"):
            linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
            weight = module.weight if isinstance(getattr(module, "weight", None), torch.Tensor) else linears[-1].weight
            weight.normal_(0.0, router_scale / weight.shape[-1]**0.5)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_tiny_nllb_moe(folder: Path, seed: int = 0, router_scale: float = 2.0, d_model: int = 32) -> Path:
    """A random tiny NLLB-MoE (encoder–decoder, top-2 of 8, layers 1 and 3 of each stack sparse) with a trained
    tokenizer, saved as its ForConditionalGeneration class."""
    from transformers import AutoConfig, AutoModelForSeq2SeqLM

    torch.manual_seed(seed)
    tok = train_t5_tokenizer(CORPUS * 20, vocab_size=260, extra_ids=0)
    config = AutoConfig.for_model("nllb-moe", vocab_size=len(tok), d_model=d_model, encoder_ffn_dim=2 * d_model,
                                  decoder_ffn_dim=2 * d_model, encoder_layers=4, decoder_layers=4,
                                  encoder_attention_heads=2, decoder_attention_heads=2, num_experts=8,
                                  encoder_sparse_step=2, decoder_sparse_step=2, max_position_embeddings=1024,
                                  pad_token_id=0, eos_token_id=1, bos_token_id=None, decoder_start_token_id=1)
    model = AutoModelForSeq2SeqLM.from_config(config).eval()
    with torch.no_grad():
        for _name, _layer, module in modules_by_class_suffix(model, ("Top2Router",), "layers"):
            module.classifier.weight.normal_(0.0, router_scale / d_model**0.5)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def open_page(page: str, timeout: float = 120):
    """The whole app (app.py, its navigation and sidebar) run once, then switched to `page` and run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../app.py", default_timeout=timeout)
    at.run()
    at.switch_page(page)
    at.run()
    return at


def experts_page(model_dir: Path, monkeypatch):
    """The app opened on the Experts page (`model_dir` as the app's model), checked to have raised nothing."""
    monkeypatch.setenv("ROUTING_LENS_MODEL", str(model_dir))
    at = open_page("app_pages/experts.py")
    assert not at.exception, [e.value for e in at.exception]
    return at


def npy_base64(a) -> str:
    """An int array as vLLM's base64 `.npy` buffer (int16): the engine fixtures' wire format."""
    import base64
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.asarray(a).astype(np.int16))
    return base64.b64encode(buf.getvalue()).decode()


def traced_wic(model: str, pairs: int):
    """(WiC head, its distinct sentences, the loaded model, their traces): the engine tests' native routes."""
    from core.data.datasets import load_wic
    from core.models.loading import load_model
    from core.tracing.tracer import Tracer

    wic = load_wic().head(pairs)
    texts = list(dict.fromkeys([*wic.sentence1, *wic.sentence2]))
    lm = load_model(model, dtype="float32")
    return wic, texts, lm, Tracer(lm, cache=None).trace(texts)
