"""The MoE architectures transformers ships that Routing Lens does not trace yet, each with the reason (the error a
user gets, and the table in docs/models.md). A family leaves this table when it has an adapter and its tests."""
from __future__ import annotations

NOT_VERIFIED = ("its router and experts are not yet verified here on a tiny model of its own config class "
                "(the check every supported family passes)")

UNSUPPORTED: dict[str, str] = {
    "nllb-moe": ("an encoder–decoder MoE whose experts module, in transformers 5.23, builds its dispatch from a one-hot "
                 "of the router's 0/1 mask, so experts 0 and 1 run for every token whatever the router chose (the "
                 "block's output differs from the gate-weighted sum of the chosen experts); a trace would show a "
                 "decision the model does not carry out"),
    "llama4": ("its router hands the experts pre-scaled inputs and no expert index (the experts each see every token, "
               "scaled by a sigmoid that is 0 for unchosen ones), and the checkpoints are multimodal: the text tower "
               "needs its own adapter"),
    "llama4_text": "its router hands the experts pre-scaled inputs and no expert index; " + NOT_VERIFIED,
    "jetmoe": "its gating returns a different tuple (per-expert batches and gates) and its attention is a mixture too",
    "dbrx": "its router returns weights and indices without logits in the order the others do; " + NOT_VERIFIED,
    **{t: NOT_VERIFIED for t in ("afmoe", "cohere2_moe", "deepseek_v32", "deepseek_v4", "exaone_moe", "flex_olmo",
                                 "glm4_moe_lite", "glm_moe_dsa", "granitemoehybrid", "kimi_linear", "longcat_flash",
                                 "qwen3_5_moe", "step3p7", "glm4v_moe", "qwen3_vl_moe", "ernie4_5_vl_moe",
                                 "qwen3_omni_moe", "minimax_m3_vl")},
}


def unsupported_reason(model_type: str) -> str:
    """Why a known MoE architecture is refused ("" when it is not one of them)."""
    return UNSUPPORTED.get(model_type, "")
