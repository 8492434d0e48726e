"""Hugging Face Hub access: is a model cached, can the Hub be reached, and what a Hub failure means for the user.

Failures are recognised by `huggingface_hub.errors` classes (transformers re-raises them as OSError `from` the
original, so the cause chain is walked), never by their message text.
"""
from __future__ import annotations

import os
import socket
import time
from urllib.parse import urlparse

from huggingface_hub import try_to_load_from_cache
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError
from transformers import AutoConfig, PretrainedConfig

from core.errors import ModelNotAvailableError

_HUB_CHECK: dict[str, tuple[float, bool]] = {}  # endpoint -> (when, reachable)
HUB_CHECK_TTL_S = 60.0


def hub_model_cached(repo_id: str, revision: str | None = None) -> bool:
    """True when the Hub model's config.json is already in the local Hugging Face cache (no network, no parsing)."""
    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json", revision=revision), str)
    except ValueError:  # not a valid repo id
        return False


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check of the Hub endpoint, so an offline machine fails in seconds, not after retries.
    An "unreachable" answer is remembered for a minute, so an app rerun does not wait again."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    seen = _HUB_CHECK.get(endpoint)
    if seen and not seen[1] and time.monotonic() - seen[0] < HUB_CHECK_TTL_S:
        return False
    url = urlparse(endpoint)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            reachable = True
    except OSError:
        reachable = False
    _HUB_CHECK[endpoint] = (time.monotonic(), reachable)
    return reachable


def _causes(err: BaseException):
    """The error and everything it was raised from."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def hub_failure_message(location: str, cause: BaseException) -> str:
    """What a failed Hub load means for the user, and what to do."""
    kinds = list(_causes(cause))
    if any(isinstance(e, GatedRepoError) for e in kinds):
        return (f"{location!r} is a gated repository on the Hugging Face Hub: accept its licence on "
                f"https://huggingface.co/{location} and log in on this machine (`hf auth login`, or set "
                "HF_TOKEN), then load it again.")
    if any(isinstance(e, RevisionNotFoundError) for e in kinds):
        return f"{location!r} has no such revision on the Hugging Face Hub. Check --revision (a branch, tag or commit)."
    if any(isinstance(e, RepositoryNotFoundError) for e in kinds):
        return (f"There is no model {location!r} on the Hugging Face Hub (or it is private). Check the spelling, "
                "or give a local folder with config.json and weights.")
    return (
        f"Model {location!r} is not in the local Hugging Face cache and the Hub could not be reached "
        f"({type(cause).__name__}). Alternatives: the bundled demo model (e.g. 'demo-switch-8'), or a local "
        "folder holding a checkpoint of a supported MoE family (config.json + weights). On a machine with "
        "internet, the model is downloaded on first use."
    )


def hub_config(location: str, revision: str | None) -> PretrainedConfig:
    """A Hub model's config: the local HF cache first, then the Hub if it can be reached; else a clear error."""
    try:
        return AutoConfig.from_pretrained(location, revision=revision, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as cached_error:  # not usable offline
        if not hub_reachable():
            raise ModelNotAvailableError(hub_failure_message(location, cached_error)) from None
        try:
            return AutoConfig.from_pretrained(location, revision=revision, trust_remote_code=False)
        except (OSError, ValueError) as online_error:
            raise ModelNotAvailableError(hub_failure_message(location, online_error)) from None
