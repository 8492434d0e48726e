"""Deployment mode for a shared server (a class, a public demo): which models may load, and the caps on heavy runs.

Set by the operator, never by a visitor: `ROUTING_LENS_DEPLOY=1` (plus `ROUTING_LENS_ALLOWLIST`), or a `[deployment]`
table in `.streamlit/secrets.toml`. Outside it the app is a researcher's own tool and loads what they pick. In both
modes a link's `model` parameter only ever names a registered model, never a path.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st

from core.models.registry import list_models
from core.settings import (
    ALLOWLIST_ENV,
    DEPLOY_ENV,
    DEPLOY_MAX_MODELS,
    DEPLOY_MAX_ROWS,
    env_model,
)

NOT_OFFERED = "This link names a model that this server does not offer; showing the default model instead."


@dataclass(frozen=True)
class Deployment:
    locked: bool
    allowlist: frozenset[str]
    max_rows: int = DEPLOY_MAX_ROWS
    max_models: int = DEPLOY_MAX_MODELS

    def allows(self, name: str | None) -> bool:
        return bool(name) and (not self.locked or name in self.allowlist)


def _secrets() -> dict:
    """The `[deployment]` table of .streamlit/secrets.toml, or {} when there is none (or no secrets file)."""
    try:
        return dict(st.secrets.get("deployment", {}))
    except Exception:  # noqa: BLE001 - no secrets file is the normal case
        return {}


def default_allowlist() -> list[str]:
    """The registry's offline entries: bundled demos and MoE-fied models (nothing to download)."""
    return [e.name for e in list_models() if e.offline]


def deployment() -> Deployment:
    secrets = _secrets()
    locked = os.environ.get(DEPLOY_ENV, "").strip().lower() in ("1", "true", "yes") or bool(secrets.get("enabled"))
    extra = [n.strip() for n in os.environ.get(ALLOWLIST_ENV, "").split(",") if n.strip()]
    extra += [str(n) for n in secrets.get("allowlist", [])]
    operator_default = [env_model()] if env_model() else []  # the operator's own default model is allowed
    return Deployment(locked, frozenset(default_allowlist() + extra + operator_default),
                      int(secrets.get("max_rows", DEPLOY_MAX_ROWS)), int(secrets.get("max_models", DEPLOY_MAX_MODELS)))


def url_model(value: str | None, dep: Deployment) -> str | None:
    """A link's `model` parameter: a registered model name the deployment allows, else None (never a path: a path is
    a choice made in the sidebar, not something a link can do)."""
    if not value:
        return None
    registered = {e.name for e in list_models()}
    return value if value in registered and dep.allows(value) else None
