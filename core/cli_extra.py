"""Registrars of the sub-commands beyond `trace` (reproduce, train-demo, datasets)."""
from __future__ import annotations

REGISTRARS: list = []
