"""Family adapters: one per kind of model, all behind `ModelAdapter` (base.py).

`adapter_for(config)` picks the adapter of a loaded config; `family_info(name)` says what a family is before any
config is read (the registry's picker labels). Adding a family: one entry in `DECODER_FAMILIES` (decoder-only top-k
routers) or an adapter class here, plus its test.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.models.adapters.base import Captured, Copy, ModelAdapter, Routers
from core.models.adapters.decoder_only import (
    DECODER_FAMILIES,
    MODEL_TYPE_FAMILY,
    DecoderOnlyAdapter,
    Family,
    generic_family,
)
from core.models.adapters.moefied import MOEFIED_CAVEAT, MOEFIED_MODEL_TYPES, MoefiedAdapter
from core.models.adapters.llama4 import Llama4Adapter
from core.models.adapters.nllb_moe import NllbMoeAdapter
from core.models.adapters.routed_minilm import ROUTED_FAMILY, RoutedMinilmAdapter
from core.models.adapters.switch import SwitchAdapter
from core.models.adapters.unsupported import unsupported_reason
from core.types import Architecture, DecoderRead

__all__ = ["Captured", "Copy", "DECODER_FAMILIES", "DecoderOnlyAdapter", "Family", "FamilyInfo", "MOEFIED_CAVEAT",
           "MOEFIED_MODEL_TYPES", "ModelAdapter", "MoefiedAdapter", "NllbMoeAdapter", "ROUTED_FAMILY", "RoutedMinilmAdapter", "Routers", "SwitchAdapter", "adapter_for",
           "family_info", "family_of_model_type", "supported_model_types"]

SWITCH_MODEL_TYPE = "switch_transformers"
NLLB_MOE_MODEL_TYPE = "nllb-moe"  # transformers' model_type; the family is "nllb_moe"


@dataclass(frozen=True)
class FamilyInfo:
    """What the registry can say of a family before loading: its architecture and how to name a model of it."""

    name: str
    architecture: Architecture
    demo_kind: str  # "tiny Switch Transformer", "tiny decoder-only Mixtral-type MoE"
    picker_kind: str  # prefix of a Hub checkpoint in the model picker ("" for Switch, the paper's family)
    short_kind: str  # prefix of a demo in the model picker
    sorts_first: bool = False  # the default demo is of this family
    decoder_reads: tuple[DecoderRead, ...] = ("input",)  # its adapter's, so forms can ask before a model loads


def family_info(name: str) -> FamilyInfo:
    """Pre-load facts of a family name ("switch", "moefied" or a decoder-only family; "" = not known yet)."""
    if name in ("switch", ""):
        return FamilyInfo("switch", "encoder-decoder", "tiny Switch Transformer", "", "", sorts_first=True,
                          decoder_reads=SwitchAdapter.decoder_reads)
    if name == NllbMoeAdapter.family:
        return FamilyInfo(name, "encoder-decoder", "tiny NLLB-MoE", "encoder-decoder NLLB-MoE, ", "NLLB-MoE, ",
                          decoder_reads=NllbMoeAdapter.decoder_reads)
    if name == ROUTED_FAMILY:
        return FamilyInfo(ROUTED_FAMILY, "encoder (MoE-fied)", "MoE-fied dense encoder with trained routers",
                          "MoE-fied, trained routers, ", "MoE-fied, ", decoder_reads=RoutedMinilmAdapter.decoder_reads)
    if name == "moefied":
        return FamilyInfo("moefied", "encoder (MoE-fied)", "MoE-fied dense encoder", "MoE-fied, ", "MoE-fied, ",
                          decoder_reads=MoefiedAdapter.decoder_reads)
    fam = DECODER_FAMILIES.get(name)
    label = fam.short_label if fam else f"{name} (unverified family)"
    return FamilyInfo(name, "decoder-only", f"tiny decoder-only {label}-type MoE", f"decoder-only {name}, ",
                      "decoder-only, ", decoder_reads=DecoderOnlyAdapter.decoder_reads)


def family_of_model_type(model_type: str) -> str:
    """The adapter family of a config's model_type ("switch", a decoder family), or "" when unsupported."""
    if model_type == SWITCH_MODEL_TYPE:
        return "switch"
    if model_type == NLLB_MOE_MODEL_TYPE:
        return NllbMoeAdapter.family
    family = MODEL_TYPE_FAMILY.get(model_type)
    return family.name if family else ""  # an unverified family is named once its config is read (adapter_for)


def supported_model_types() -> tuple[str, ...]:
    return (SWITCH_MODEL_TYPE, NLLB_MOE_MODEL_TYPE, *MODEL_TYPE_FAMILY)


def adapter_for(config: Any) -> ModelAdapter | None:
    """The adapter of a config (None when it is not a MoE Routing Lens can trace). A MoE-fied entry's adapter comes
    from its registry entry instead (MoefiedSource), since a dense config alone does not ask for MoE-fication. A MoE
    no adapter knows (and not known to be untraceable) is traced as an unverified family (adapters/generic.py)."""
    if config.model_type == SWITCH_MODEL_TYPE:
        return SwitchAdapter(config)
    if config.model_type == NLLB_MOE_MODEL_TYPE:
        return NllbMoeAdapter(config)
    family = MODEL_TYPE_FAMILY.get(config.model_type)
    if family is None and not unsupported_reason(config.model_type):
        family = generic_family(config)
        return DecoderOnlyAdapter(family, config, verified=False) if family else None
    if family is None:
        return None
    return (Llama4Adapter if family.name == "llama4" else DecoderOnlyAdapter)(family, config)
