"""The decoder-reading control the pages share (shown only for models whose decoder can be read two ways)."""
from __future__ import annotations

import streamlit as st

from core.models.adapters import ModelAdapter
from core.types import DECODER_READ_LABELS as LABELS
from core.types import DECODER_READ_NOTES as NOTES
from core.types import DecoderRead

__all__ = ["LABELS", "NOTES", "decoder_read_control"]


def decoder_read_control(adapter: ModelAdapter | None, key: str, container=st) -> DecoderRead:
    """A radio for the decoder reading when the model offers more than one; "input" otherwise."""
    if adapter is None or len(adapter.decoder_reads) < 2:
        return "input"
    return container.radio("Read decoder routing", adapter.decoder_reads, format_func=LABELS.get, key=key,
                           help="The paper does not say where it read decoder routing; the choice moves decoder "
                                "numbers a lot. See docs/definitions.md.")
