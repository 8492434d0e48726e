"""The MoE architectures transformers ships that Routing Lens refuses, each with the reason (the error a user gets,
and the table in docs/models.md). Any other MoE without an adapter is traced as an unverified family
(adapters/generic.py); a family leaves this table when it has an adapter and its tests."""
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
    "dbrx": "its router returns weights and indices without logits in the order the others do",
}


def unsupported_reason(model_type: str) -> str:
    """Why a known MoE architecture is refused ("" when it is not one of them)."""
    return UNSUPPORTED.get(model_type, "")
