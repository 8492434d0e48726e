"""The MoE architectures transformers ships that Routing Lens refuses, each with the reason (the error a user gets,
and the table in docs/models.md). Any other MoE without an adapter is traced as an unverified family
(adapters/generic.py); a family leaves this table when it has an adapter and its tests."""
from __future__ import annotations

NOT_VERIFIED = ("its router and experts are not yet verified here on a tiny model of its own config class "
                "(the check every supported family passes)")

UNSUPPORTED: dict[str, str] = {
    "llama4": ("its router hands the experts pre-scaled inputs and no expert index (the experts each see every token, "
               "scaled by a sigmoid that is 0 for unchosen ones), and the checkpoints are multimodal: the text tower "
               "needs its own adapter"),
    "llama4_text": "its router hands the experts pre-scaled inputs and no expert index; " + NOT_VERIFIED,
    "jetmoe": "its gating returns a different tuple (per-expert batches and gates) and its attention is a mixture too",
    "dbrx": "its router returns weights and indices without logits in the order the others do",
}


def unsupported_reason(model_type: str) -> str:
    """Why a known MoE architecture is refused ("" when it is not one of them)."""
    return UNSUPPORTED.get(model_type, "")
