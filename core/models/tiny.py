"""A tiny random model of any transformers model type, built from its own config class: what the model-types table
(docs/models.md, `python -m scripts.model_types`) and its tests are made of. Real checkpoints cannot be downloaded
here, and a tiny model of the same classes runs the same routing code.

The config class's defaults are shrunk (width 32, two layers, eight experts, top-2, a 260-token vocabulary); a
multimodal config is reduced to its text tower, which is what Routing Lens traces. `OVERRIDES` holds the few types
whose defaults need more than that to build at this size (`CONSTRUCT`, `SET`).
"""
from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from typing import Any

SMALL: dict[str, Any] = dict(
    hidden_size=32, d_model=32, intermediate_size=64, moe_intermediate_size=32, expert_intermediate_size=32,
    shared_expert_intermediate_size=32, shared_intermediate_size=32, ffn_hidden_size=64, expert_ffn_hidden_size=32, num_hidden_layers=2,
    n_layers=2, num_layers=2, num_attention_heads=2, n_heads=2, num_key_value_heads=1, head_dim=16,
    max_position_embeddings=256, max_seq_len=256, kv_lora_rank=16, q_lora_rank=16, qk_rope_head_dim=8,
    qk_nope_head_dim=8, v_head_dim=16, first_k_dense_replace=0, n_group=1, topk_group=1, linear_key_head_dim=8,
    linear_value_head_dim=8, linear_num_key_heads=2, linear_num_value_heads=2, index_head_dim=8, index_n_heads=2,
    index_topk=4, vocab_size_per_layer_input=260, hidden_size_per_layer_input=8, num_kv_shared_layers=0,
    moe_layer_start_index=0, num_dense_layers=0, pad_token_id=0, bos_token_id=None, eos_token_id=1,
    tie_word_embeddings=False, global_head_dim=16, num_global_key_value_heads=1, sliding_window=16,
)
EXPERT_COUNTS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
TOP_KS = ("num_experts_per_tok", "moe_topk", "top_k", "moe_k", "top_k_experts", "moe_top_k")
VOCAB = 260
EXPERTS, TOP_K = 8, 2
CONSTRUCT: dict[str, dict[str, Any]] = {  # what a type's config must be built with (its validation runs then)
    "dbrx": dict(d_model=32, n_heads=2, n_layers=2, max_seq_len=256, vocab_size=VOCAB,
                 attn_config={"kv_n_heads": 1, "rope_theta": 10000.0, "clip_qkv": 8.0},
                 ffn_config={"ffn_hidden_size": 64, "moe_num_experts": EXPERTS, "moe_top_k": TOP_K}),
    "switch_transformers": dict(num_layers=2, num_decoder_layers=2, num_sparse_encoder_layers=1,
                                num_sparse_decoder_layers=1, d_kv=16, d_ff=64, num_heads=2, num_experts=EXPERTS),
    "lfm2_moe": dict(num_hidden_layers=2, layer_types=["conv", "full_attention"]),
    "dots1": dict(n_shared_experts=1),
    "granitemoehybrid": dict(mamba_n_heads=2, mamba_d_head=32, mamba_n_groups=1, mamba_d_state=8),
    "glm5_next": dict(index_topk=16),
}
SET: dict[str, dict[str, Any]] = {  # set on the shrunk text config
    "zaya": dict(num_experts_per_tok=1),  # ZAYA routes top-1 only
    "gemma4": dict(enable_moe_block=True, num_experts=EXPERTS, top_k_experts=TOP_K, moe_intermediate_size=32),
    "longcat_flash": dict(zero_expert_num=2, qk_head_dim=16),
}
LAYER_COUNTS = ("num_hidden_layers", "n_layers", "num_layers")
DENSE_INDEX_LISTS = ("mlp_only_layers",)  # layer indices kept dense: only layer 0 may stay dense


def transformers_models_dir() -> Path:
    import transformers

    return Path(os.path.dirname(transformers.__file__)) / "models"


def routed_expert_folders() -> list[str]:
    """The installed transformers' model folders whose modeling code holds routed experts: a module of experts and a
    routing rule (a top-k or a router). The table of model types lists exactly these."""
    found = []
    for folder in sorted(transformers_models_dir().iterdir()):
        source = "".join(f.read_text(errors="ignore") for f in folder.glob("modeling_*.py")) if folder.is_dir() else ""
        if re.search(r"\bexperts\b|Experts", source) and re.search(
                r"top_k|num_experts_per_tok|moe_topk|moe_k\b|top_k_experts|router", source):
            found.append(folder.name)
    return found


def config_class(folder: str) -> type:
    """The folder's main config class: the one whose model_type is registered for the folder (a model folder may also
    define its text and vision sub-configs)."""
    from transformers import CONFIG_MAPPING

    module = importlib.import_module(f"transformers.models.{folder}")
    classes = [getattr(module, n) for n in dir(module) if n.endswith("Config") and isinstance(getattr(module, n), type)]
    classes = [c for c in classes if getattr(c, "model_type", "") in CONFIG_MAPPING]
    for candidate in (folder, folder.replace("_", "-")):
        for c in classes:
            if c.model_type == candidate:
                return c
    if not classes:
        raise LookupError(f"{folder}: no registered config class")
    return min(classes, key=lambda c: len(c.__name__))


def _kept_layers(values: dict) -> tuple[int, list[int]]:
    """(the config's layer count, the two layers kept): layer 0 and the first layer unlike it in every per-layer list
    and per-layer config (so a dense-first model keeps a sparse layer)."""
    count = next((values[k] for k in LAYER_COUNTS if isinstance(values.get(k), int)), 0)
    lists = [v for v in values.values() if isinstance(v, list) and count > 2 and len(v) == count]
    per_layer = values.get("per_layer_config") if isinstance(values.get("per_layer_config"), dict) else {}
    keys = {int(k) for k in per_layer}

    def signature(i: int) -> tuple:
        return tuple(str(v[i]) for v in lists) + (i in keys,)

    other = next((i for i in range(1, count) if signature(i) != signature(0)), 1)
    return count, [0, other]


def _shrink(config: Any) -> None:
    values = config.to_dict()
    count, kept = _kept_layers(values)
    for key, value in values.items():
        if isinstance(value, list) and count > 2 and len(value) == count:
            setattr(config, key, [value[i] for i in kept])
    if isinstance(values.get("per_layer_config"), dict) and values["per_layer_config"]:
        config.per_layer_config = {str(n): values["per_layer_config"][k] for k in values["per_layer_config"]
                                   for n, i in enumerate(kept) if int(k) == i}
    for key in DENSE_INDEX_LISTS:
        if isinstance(values.get(key), list):
            setattr(config, key, [0] if 0 in values[key] else [])
    for key, value in SMALL.items():
        if key in values and not isinstance(values[key], dict | list):
            setattr(config, key, value)
    if isinstance(values.get("kv_lora_rank"), int):  # multi-head latent attention: its own head sizes, no K/V groups
        config.head_dim = SMALL["qk_rope_head_dim"]
        if "num_key_value_heads" in values:
            config.num_key_value_heads = SMALL["num_attention_heads"]
    for keys, n in ((EXPERT_COUNTS, EXPERTS), (TOP_KS, TOP_K)):
        for key in keys:
            value = values.get(key)
            if isinstance(value, list):
                setattr(config, key, [n] * len(getattr(config, key)))
            elif (isinstance(value, int) and not isinstance(value, bool) and value >= 1) or (
                    value is None and key in ("num_experts_per_tok", "n_routed_experts")):
                setattr(config, key, n)
    if "vocab_size" in values:
        config.vocab_size = VOCAB


def tiny_config(folder: str) -> Any:
    """The folder's config class at tiny size, reduced to its text tower when it has one."""
    cls = config_class(folder)
    config = cls(**CONSTRUCT.get(folder, {}))
    text = config if getattr(config, "is_encoder_decoder", False) else config.get_text_config(decoder=True)
    _shrink(text)
    if text is not config:
        _shrink(config)
    for key, value in SET.get(folder, {}).items():
        setattr(text, key, value)
    return text


def build_tiny(folder: str, out: Path, seed: int = 0, tokenizer: Any = None) -> Path:
    """Save a tiny random model of `folder`'s type (its causal LM class when it has one, else its base model) and
    `tokenizer` into `out`; routers scaled as the other tiny models' (soft, not uniform)."""
    import torch

    config = tiny_config(folder)
    torch.manual_seed(seed)
    model = model_class(folder, config)(config)
    model.eval().save_pretrained(out)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    return out


def model_class(folder: str, config: Any) -> type:
    """The class a checkpoint of this config is saved as: its causal LM (or, for an encoder–decoder, its conditional
    generation model), else its base model; found by the Auto mappings, else in the folder's module."""
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    for auto in (AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoModel):
        try:
            return auto._model_mapping[type(config)]  # noqa: SLF001 - the Auto class's own config → class table
        except KeyError:
            continue
    module = importlib.import_module(f"transformers.models.{folder}.modeling_{folder}")
    classes = [getattr(module, n) for n in dir(module) if n.endswith(("ForCausalLM", "Model"))
               and getattr(getattr(module, n), "config_class", None) is type(config)]
    for suffix in ("ForCausalLM", "Model"):
        for cls in classes:
            if cls.__name__.endswith(suffix):
                return cls
    raise LookupError(f"{folder}: no model class for {type(config).__name__}")
