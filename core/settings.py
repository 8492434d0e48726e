"""Settings in one place: where things live (environment variables) and the named limits pages and the CLI share."""
from __future__ import annotations

import os
import sys
from pathlib import Path

HOME_ENV = "ROUTING_LENS_HOME"  # where the bundled models/ and results/ live (see _home)


def _home() -> Path:
    """Where the bundled models and results are found, in this order: `ROUTING_LENS_HOME`; the checkout this code runs
    from (a clone, or `pip install -e .`); what `pip install` put under <prefix>/share/routing-lens (the wheel ships
    models/ and results/ there)."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser().resolve()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "models").is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "routing-lens"


REPO_ROOT = _home()
IS_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file()
BUNDLED_MODELS_DIR = REPO_ROOT / "models"

# ---------- environment variables ----------
MODEL_ENV = "ROUTING_LENS_MODEL"  # the app's default model (tests and deployments set it)
CACHE_ENV = "ROUTING_LENS_CACHE"  # the runtime cache folder (default cache/)
DATA_ENV = "ROUTING_LENS_DATA"  # the benchmark data folder (after --data-dir, before the defaults)
DEPLOY_ENV = "ROUTING_LENS_DEPLOY"  # "1": deployment mode for a shared server (README "Serving a class")
ALLOWLIST_ENV = "ROUTING_LENS_ALLOWLIST"  # deployment mode: model names allowed beyond the bundled and MoE-fied ones
MODEL_MEMORY_ENV = "ROUTING_LENS_MODEL_MEMORY_GIB"  # the app's budget for models held in memory (default: half the RAM)
DTYPE_ENV = "ROUTING_LENS_DTYPE"  # the app's precision (default: float32 where it fits; see the precision policy)

# ---------- named limits ----------
DEPLOY_MAX_ROWS = 200  # deployment mode: rows per dataset a Benchmarks run may ask for
DEPLOY_MAX_MODELS = 2  # deployment mode: models per Benchmarks run
MAX_TOKENS = 512  # longer inputs are truncated (and the trace says so)
TRACE_MAX_SENTENCES = 10  # sentences the Trace page draws at once
TRACE_TEXT_MAX_CHARS = 20_000  # what the Trace page's text box accepts
SENTENCE_PREVIEW_CHARS = 300  # a longer sentence is shown cut, with an ellipsis
COMPARE_SENTENCE_MAX_CHARS = 5_000
COMPARE_WORD_MAX_CHARS = 100
# Compare re-checks a half-precision pair in float32: a notice when the mean JSS moves by more than this, or a
# top-1 expert flips.
PRECISION_JSS_TOLERANCE = 0.02
LEARN_SENTENCE_MAX_CHARS = 2_000
# From this size on the sidebar shows how the model was placed, even when it loaded whole onto one device.
PLACEMENT_CAPTION_MIN_PARAMS = 500_000_000


def cache_dir() -> Path:
    """Runtime cache (traces, trained models, datasets); `ROUTING_LENS_CACHE` overrides `cache/` of a checkout, or
    ~/.cache/routing-lens for an installed package."""
    default = REPO_ROOT / "cache" if IS_CHECKOUT else Path.home() / ".cache" / "routing-lens"
    return Path(os.environ.get(CACHE_ENV, default))


def env_model() -> str | None:
    """The model named by `ROUTING_LENS_MODEL`, if any."""
    return os.environ.get(MODEL_ENV) or None


def env_dtype() -> str | None:
    """The app's precision named by `ROUTING_LENS_DTYPE` (float32, bfloat16, float16), if any."""
    return os.environ.get(DTYPE_ENV) or None


def asked_dtype(dtype: str | None = None) -> str | None:
    """The one precision rule before loading: an explicit dtype, else `ROUTING_LENS_DTYPE`, else None (the loader's
    precision policy: float32 wherever the model fits)."""
    return dtype or env_dtype()


def model_memory_budget() -> int:
    """Bytes of model weights the app keeps in memory at once: `ROUTING_LENS_MODEL_MEMORY_GIB`, else half the RAM."""
    value = os.environ.get(MODEL_MEMORY_ENV)
    if value:
        try:
            return int(float(value) * 2**30)
        except ValueError:
            pass
    import psutil

    return int(psutil.virtual_memory().total // 2)
