from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network

from helpers import build_tiny_switch  # noqa: E402 - after the environment is set


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_switch(tmp_path_factory.mktemp("tiny-switch-8"), num_experts=8)


@pytest.fixture(scope="session")
def tiny_model_dir_4(tmp_path_factory) -> Path:
    return build_tiny_switch(tmp_path_factory.mktemp("tiny-switch-4"), num_experts=4, seed=1)


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_dir):
    from core.models.loading import load_model

    return load_model(str(tiny_model_dir), dtype="float32")


@pytest.fixture()
def tmp_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ROUTING_LENS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    from app_server import CHROMIUM, FLAGS

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (bash scripts/setup.sh --dev does).")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


def pytest_collection_modifyitems(items):
    """Every test that uses the browser fixture is a browser test (pytest -m "not browser" leaves them out)."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
