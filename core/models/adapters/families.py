"""The decoder-only MoE families Routing Lens knows: what to look for in each config, its smallest public checkpoint,
and how its router scores and chooses (core.models.adapters.scoring). `DECODER_FAMILIES` is the table to extend for
a new family; `generic_family` names one no entry knows (an unverified family, adapters/generic.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.models.adapters.scoring import (
    ROUTER_PROBABILITIES,
    SIGMOID_BIAS,
    SIGMOID_BIAS_GROUP,
    SIGMOID_TOPK,
    SOFTMAX_BIAS,
    SOFTMAX_GROUP,
    SOFTMAX_TOPK,
    SPARSEMIXER,
    TOPK_SOFTMAX,
    Scoring,
)

# Router classes in transformers >= 5: a module returning (router_logits, top_k_weights, top_k_index).
ROUTER_CLASS_SUFFIXES = ("TopKRouter", "TopkRouter", "MoEV1Gate")


def config_value(config: Any, path: str) -> Any:
    """`config.a.b` for "a.b" (DBRX keeps its experts in `ffn_config`); a dict config is read the same way."""
    for part in path.split("."):
        config = config.get(part) if isinstance(config, dict) else getattr(config, part, None)
    return config


@dataclass(frozen=True)
class Family:
    """A decoder-only MoE family: what to look for in its config and its smallest public checkpoint."""

    name: str
    label: str
    model_types: tuple[str, ...]
    experts_attr: str  # config attribute holding the routed-expert count
    smallest: str  # smallest public checkpoint (Hub id)
    smallest_params: int  # its total parameter count, rounded as its model card gives it
    top_k_attr: str = "num_experts_per_tok"
    note: str = ""
    scoring: Scoring = SOFTMAX_TOPK
    shared: str = ""  # experts every token runs beside the routed ones ("" when none)
    dense_layers: str = ""  # which layers keep a dense MLP ("" when every layer is sparse)
    renormalises: bool | None = None  # the chosen weights divided by their sum: None = the config's norm_topk_prob
    router_classes: tuple[str, ...] = ROUTER_CLASS_SUFFIXES  # class-name suffixes of its router modules
    extra_label: str = ""  # routing columns after the routed experts that are not experts ("no expert", "zero expert")
    extra_count_attr: str = ""  # config attribute counting them ("": one column)
    skip_slot: bool = False  # the extra column is a skip its router hands on as expert 0 at weight 0
    block_rule: str = ""  # its router returns logits only: the MoE block's method that chooses and weights
    layer_list: str = "layers"  # the module list its layers sit in (DBRX: "blocks")

    @property
    def short_label(self) -> str:
        """"Mixtral" from "Mixtral (Mistral AI)": the architecture, not the vendor."""
        return self.label.split(" (")[0]


DECODER_FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("mixtral", "Mixtral (Mistral AI)", ("mixtral",), "num_local_experts", "mistralai/Mixtral-8x7B-v0.1",
           46_700_000_000, renormalises=True),
    Family("olmoe", "OLMoE (AI2)", ("olmoe",), "num_experts", "allenai/OLMoE-1B-7B-0924", 6_900_000_000),
    Family("qwen2_moe", "Qwen2-MoE / Qwen1.5-MoE", ("qwen2_moe",), "num_experts", "Qwen/Qwen1.5-MoE-A2.7B",
           14_300_000_000, note="a shared expert runs for every token beside the routed ones",
           shared="one shared expert, gated by a sigmoid", dense_layers="mlp_only_layers"),
    Family("qwen3_moe", "Qwen3-MoE", ("qwen3_moe",), "num_experts", "Qwen/Qwen3-30B-A3B", 30_500_000_000,
           dense_layers="mlp_only_layers"),
    Family("qwen3_next", "Qwen3-Next", ("qwen3_next",), "num_experts", "Qwen/Qwen3-Next-80B-A3B-Instruct",
           80_000_000_000, note="hybrid linear (Gated DeltaNet) and full attention; a gated shared expert",
           shared="one shared expert, gated by a sigmoid"),
    Family("granitemoe", "GraniteMoE (IBM)", ("granitemoe",), "num_local_experts",
           "ibm-granite/granite-3.0-1b-a400m-base", 1_300_000_000,
           note="top-k is taken on the logits; the recorded distribution is the softmax over all experts",
           scoring=TOPK_SOFTMAX),
    Family("granitemoeshared", "GraniteMoE-Shared (IBM)", ("granitemoeshared",), "num_local_experts",
           "ibm-research/moe-7b-1b-active-shared-experts", 7_000_000_000, scoring=TOPK_SOFTMAX,
           note="top-k is taken on the logits; a shared MLP runs for every token", shared="one shared MLP"),
    Family("phimoe", "PhiMoE (Microsoft)", ("phimoe",), "num_local_experts", "microsoft/Phi-3.5-MoE-instruct",
           41_900_000_000, note="SparseMixer top-2: at inference the two highest logits", scoring=SPARSEMIXER),
    Family("jamba", "Jamba (AI21)", ("jamba",), "num_experts", "ai21labs/AI21-Jamba-Mini-1.5", 51_600_000_000,
           note="hybrid Mamba–attention layers; experts in every other layer", dense_layers="every other layer"),
    Family("deepseek_v2", "DeepSeek-V2", ("deepseek_v2",), "n_routed_experts", "deepseek-ai/DeepSeek-V2-Lite",
           15_700_000_000, note="shared experts run for every token; group-limited routing may skip a "
                                "high-probability expert outside the chosen groups", scoring=SOFTMAX_GROUP,
           shared="n_shared_experts shared experts", dense_layers="the first first_k_dense_replace"),
    Family("deepseek_v3", "DeepSeek-V3 / Kimi K2", ("deepseek_v3",), "n_routed_experts", "deepseek-ai/DeepSeek-V3",
           671_000_000_000, scoring=SIGMOID_BIAS_GROUP, shared="n_shared_experts shared experts",
           dense_layers="the first first_k_dense_replace",
           note="sigmoid scores; the choice adds a selection-only bias inside the best groups, so it may differ from "
                "the distribution's top-k"),
    Family("glm4_moe", "GLM-4.5 (Z.ai)", ("glm4_moe",), "n_routed_experts", "zai-org/GLM-4.5-Air", 106_000_000_000,
           scoring=SIGMOID_BIAS_GROUP, shared="n_shared_experts shared experts",
           dense_layers="the first first_k_dense_replace",
           note="sigmoid scores with a selection-only bias inside the best groups (DeepSeek-V3's rule)"),
    Family("dots1", "dots.llm1 (rednote)", ("dots1",), "n_routed_experts", "rednote-hilab/dots.llm1.base",
           142_000_000_000, scoring=SIGMOID_BIAS_GROUP, shared="n_shared_experts shared experts",
           dense_layers="the first first_k_dense_replace", note="DeepSeek-V3's routing rule"),
    Family("gpt_oss", "gpt-oss (OpenAI)", ("gpt_oss",), "num_local_experts", "openai/gpt-oss-20b", 21_000_000_000,
           scoring=TOPK_SOFTMAX, note="a router with a bias; the softmax runs over the chosen top-k only"),
    Family("minimax", "MiniMax-Text-01", ("minimax",), "num_local_experts", "MiniMaxAI/MiniMax-Text-01",
           456_000_000_000, note="hybrid lightning (linear) and softmax attention", renormalises=True),
    Family("minimax_m2", "MiniMax-M2", ("minimax_m2",), "num_local_experts", "MiniMaxAI/MiniMax-M2", 230_000_000_000,
           scoring=SIGMOID_BIAS, note="sigmoid scores; the choice adds a selection-only bias"),
    Family("ernie4_5_moe", "ERNIE-4.5-MoE (Baidu)", ("ernie4_5_moe",), "moe_num_experts",
           "baidu/ERNIE-4.5-21B-A3B-PT", 21_000_000_000, scoring=SOFTMAX_BIAS, shared="moe_num_shared_experts",
           note="the choice adds a selection-only bias (moe_statics) to the softmax"),
    Family("hunyuan_v1_moe", "Hunyuan-MoE (Tencent)", ("hunyuan_v1_moe",), "num_experts",
           "tencent/Hunyuan-A13B-Instruct", 80_000_000_000, top_k_attr="moe_topk", shared="a shared MLP",
           renormalises=True),
    Family("llama4", "Llama 4 (Meta)", ("llama4", "llama4_text"), "num_local_experts",
           "meta-llama/Llama-4-Scout-17B-16E", 109_000_000_000, scoring=SIGMOID_TOPK, shared="one shared MLP",
           dense_layers="all but moe_layers", note="the router scales each chosen expert's input by the sigmoid of its "
                                                   "logit; multimodal checkpoints are traced through their text tower"),
    Family("gemma4", "Gemma 4 (Google)", ("gemma4", "gemma4_text"), "num_experts", "google/gemma-4-26B-A4B-it",
           26_000_000_000, top_k_attr="top_k_experts", scoring=ROUTER_PROBABILITIES, router_classes=("TextRouter",),
           note="its router returns probabilities, not logits; a dense MLP runs beside the experts in every layer "
                "and each chosen weight is scaled per expert", shared="a dense MLP beside the experts"),
    Family("dbrx", "DBRX (Databricks)", ("dbrx",), "ffn_config.moe_num_experts", "databricks/dbrx-base",
           132_000_000_000, top_k_attr="ffn_config.moe_top_k", router_classes=("DbrxRouter",),
           block_rule="route_tokens_to_experts", layer_list="blocks",
           note="its router returns logits only; its block takes softmax, top-k and a p-norm of the chosen weights"),
    Family("zaya", "ZAYA1 (Zyphra)", ("zaya",), "num_experts", "Zyphra/ZAYA1-8B", 8_800_000_000, scoring=SOFTMAX_BIAS,
           extra_label="no expert", skip_slot=True, router_classes=("ZayaRouter",),
           note="its router may choose to skip the experts: that choice is its own column, \"no expert\""),
    Family("longcat_flash", "LongCat-Flash (Meituan)", ("longcat_flash",), "n_routed_experts",
           "meituan-longcat/LongCat-Flash-Chat", 560_000_000_000, top_k_attr="moe_topk", scoring=SOFTMAX_BIAS, extra_label="zero expert",
           extra_count_attr="zero_expert_num", renormalises=False,
           note="zero-computation experts (the token passes unchanged) sit beside the routed ones: each is a column, "
                "\"zero expert\""),
    Family("lfm2_moe", "LFM2-MoE (Liquid AI)", ("lfm2_moe",), "num_experts", "LiquidAI/LFM2-8B-A1B", 8_300_000_000,
           scoring=SIGMOID_BIAS, dense_layers="the first num_dense_layers",
           note="hybrid convolution and attention layers; sigmoid scores with a selection-only expert bias"),
)}
MODEL_TYPE_FAMILY: dict[str, Family] = {t: f for f in DECODER_FAMILIES.values() for t in f.model_types}


def generic_family(config: Any) -> Family | None:
    """An unverified family for a decoder-only config that names an expert count and a top-k (adapters/generic.py);
    None otherwise."""
    from core.models.adapters.generic import generic_attrs

    found = generic_attrs(config)
    if found is None:
        return None
    experts, top_k = found
    model_type = str(config.model_type)
    return Family(model_type, f"{model_type} (unverified family)", (model_type,), experts, "", 0, top_k_attr=top_k,
                  note=("an unverified family: its router was found by its module names and its scoring read off "
                        "the router's own attributes (softmax then top-k where nothing else shows); the self-check "
                        "says whether the traced experts are the ones it dispatched"))
