"""The MoE architectures transformers ships that Routing Lens refuses, each with the reason (the error a user gets,
and the table in docs/models.md). Any other MoE without an adapter is traced as an unverified family
(adapters/generic.py); a family leaves this table when it has an adapter and its tests."""
from __future__ import annotations

UNSUPPORTED: dict[str, str] = {
    "jetmoe": "its gating returns a different tuple (per-expert batches and gates) and its attention is a mixture too",
}


def unsupported_reason(model_type: str) -> str:
    """Why a known MoE architecture is refused ("" when it is not one of them)."""
    return UNSUPPORTED.get(model_type, "")
