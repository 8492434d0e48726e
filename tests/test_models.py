"""Loader, registry and memory guard."""
from __future__ import annotations

import shutil

import pytest
from transformers import SwitchTransformersConfig

from core.switch_config import switch_base_config

from core.errors import ModelNotAvailableError, ModelTooLargeError, NotASwitchModelError
from core.models import HUB_PARAMS, count_parameters, estimate_bytes, list_models, load_model, plan_load, resolve

GiB = 2**30


def test_registry_lists_hub_checkpoints_with_sizes():
    names = {e.name: e for e in list_models()}
    for n in (8, 16, 32, 64, 128):
        entry = names[f"google/switch-base-{n}"]
        assert entry.source == "hub" and entry.num_experts == n and entry.params
    assert resolve("switch-base-32").name == "google/switch-base-32"


def test_local_folder_loads_through_from_pretrained(tiny_model_dir):
    loaded = load_model(str(tiny_model_dir), dtype="float32")
    assert loaded.entry.source == "local"
    assert loaded.num_experts == 8 and loaded.dtype == "float32" and loaded.device == "cpu"
    assert not loaded.model.training
    assert loaded.revision.startswith("local-")


def test_safetensors_and_bin_both_load(tiny_model_dir, tmp_path):
    from transformers import SwitchTransformersForConditionalGeneration

    import torch

    model = SwitchTransformersForConditionalGeneration.from_pretrained(tiny_model_dir)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    torch.save(model.state_dict(), bin_dir / "pytorch_model.bin")  # the google/switch-base repos ship .bin
    for f in tiny_model_dir.iterdir():
        if not f.name.endswith(".safetensors"):
            shutil.copy(f, bin_dir / f.name)
    assert (bin_dir / "pytorch_model.bin").exists()
    loaded = load_model(str(bin_dir), dtype="float32")
    assert loaded.num_experts == 8


def test_offline_and_not_cached_gives_the_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelNotAvailableError) as err:
        load_model("google/switch-base-8")
    msg = str(err.value)
    assert "not in the local Hugging Face cache" in msg and "bundled demo" in msg and "local folder" in msg


def test_missing_or_wrong_folder(tmp_path):
    with pytest.raises(NotASwitchModelError, match="does not exist"):
        load_model(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotASwitchModelError, match="no config.json"):
        load_model(str(tmp_path / "empty"))
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text('{"model_type": "bert"}')
    (bert / "model.safetensors").write_bytes(b"")
    with pytest.raises(NotASwitchModelError, match="bert"):
        load_model(str(bert))


@pytest.mark.parametrize("experts,published", [(8, 0.62e9), (16, 1.0e9), (32, 2.0e9), (64, 3.8e9), (128, 7.4e9)])
def test_parameter_count_from_config_alone_matches_published(experts, published):
    params = count_parameters(switch_base_config(experts))
    assert abs(params - published) / published < 0.08  # DESIGN §1 rounds to two digits
    assert params == HUB_PARAMS[experts]


def test_memory_guard_refuses_fp32_switch_base_128_on_24_gib_and_allows_bf16():
    config = switch_base_config(128)
    free = 23 * GiB
    with pytest.raises(ModelTooLargeError, match="GiB"):
        plan_load(config, device="cpu", dtype="float32", available_bytes=free)
    plan = plan_load(config, device="cpu", dtype="bfloat16", available_bytes=free)
    assert plan.dtype == "bfloat16" and 7.0e9 < plan.params < 7.8e9 and plan.needed_bytes < free


def test_memory_guard_falls_back_to_bf16_when_dtype_not_forced(monkeypatch):
    import core.models as models

    monkeypatch.setattr(models, "pick_dtype", lambda device, requested=None: requested or "float32")
    config = SwitchTransformersConfig(num_experts=8)
    params = count_parameters(config)
    free = estimate_bytes(params, "bfloat16") + GiB // 8  # bf16 fits, fp32 does not
    plan = plan_load(config, device="cpu", available_bytes=free)
    assert plan.dtype == "bfloat16" and plan.notes
    with pytest.raises(ModelTooLargeError):
        plan_load(config, device="cpu", available_bytes=GiB // 4)


def test_unknown_name_lists_alternatives():
    with pytest.raises(ModelNotAvailableError, match="Known models"):
        resolve("switch-nonsense")
