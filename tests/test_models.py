"""Loader, registry and memory guard."""
from __future__ import annotations

import shutil

import pytest
from transformers import SwitchTransformersConfig

from core.errors import ModelNotAvailableError, ModelTooLargeError, UnsupportedModelError
from core.models.adapters.switch_catalogue import HUB_PARAMS
from core.models.loading import count_parameters, load_model, plan_load
from core.models.placement import estimate_bytes
from core.models.registry import list_models, resolve
from core.training.switch_config import switch_base_config

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
    import torch
    from transformers import SwitchTransformersForConditionalGeneration

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
    with pytest.raises(UnsupportedModelError, match="does not exist"):
        load_model(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnsupportedModelError, match="no config.json"):
        load_model(str(tmp_path / "empty"))
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text('{"model_type": "bert"}')
    (bert / "model.safetensors").write_bytes(b"")
    with pytest.raises(UnsupportedModelError, match="bert"):
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
        plan_load(config, device="cpu", dtype="float32", available_bytes=free, placement="single")
    with pytest.raises(ModelTooLargeError, match="disk"):  # auto: nothing fits, not even with disk offload
        plan_load(config, device="cpu", dtype="float32", available_bytes=free, disk_bytes=GiB)
    plan = plan_load(config, device="cpu", dtype="bfloat16", available_bytes=free)
    assert plan.dtype == "bfloat16" and 7.0e9 < plan.params < 7.8e9 and plan.needed_bytes < free
    assert plan.placement == "single" and "loads whole onto cpu" in plan.summary


def test_too_large_for_ram_plans_disk_offload_and_says_so_before_loading(tmp_path):
    config = switch_base_config(128)
    plan = plan_load(config, device="cpu", dtype="float32", available_bytes=23 * GiB, disk_bytes=500 * GiB,
                     offload_to=tmp_path / "off")
    assert plan.placement == "offload" and plan.uses_device_map
    weights = plan.params * 4
    assert plan.max_memory == {"cpu": int(23 * GiB * 0.85)}
    assert plan.offload_bytes == weights - plan.max_memory["cpu"]
    assert f"offloads about {plan.offload_bytes / GiB:.1f} GiB" in plan.summary and str(tmp_path / "off") in plan.summary


def test_placement_order_gpu_then_cpu_then_quantised_then_disk():
    from core.models.placement import Budget, plan_placement

    params = 10_000_000_000  # 10B: 20 GB of bf16 weights
    gpu = Budget("cuda", device_free=16 * GiB, cpu_free=20 * GiB, disk_free=100 * GiB, offload_folder="/x")
    plan = plan_placement(params, "bfloat16", True, "auto", gpu)
    assert plan.placement == "device_map" and plan.max_memory == {0: int(16 * GiB * 0.85), "cpu": int(20 * GiB * 0.85)}
    small_cpu = Budget("cuda", device_free=16 * GiB, cpu_free=2 * GiB, disk_free=100 * GiB, offload_folder="/x",
                       has_bnb=True)
    assert plan_placement(params, "bfloat16", True, "auto", small_cpu).placement == "8bit"
    tiny_gpu = Budget("cuda", device_free=7 * GiB, cpu_free=2 * GiB, disk_free=100 * GiB, offload_folder="/x",
                      has_bnb=True)
    assert plan_placement(params, "bfloat16", True, "auto", tiny_gpu).placement == "4bit"
    no_bnb = Budget("cuda", device_free=7 * GiB, cpu_free=2 * GiB, disk_free=100 * GiB, offload_folder="/x")
    assert plan_placement(params, "bfloat16", True, "auto", no_bnb).placement == "offload"
    with pytest.raises(ModelTooLargeError, match="bitsandbytes"):
        plan_placement(params, "bfloat16", True, "8bit", no_bnb)


def test_memory_guard_falls_back_to_bf16_when_dtype_not_forced(monkeypatch):
    import core.models.loading as models

    monkeypatch.setattr(models, "pick_dtype", lambda device, requested=None: requested or "float32")
    config = SwitchTransformersConfig(num_experts=8)
    params = count_parameters(config)
    free = estimate_bytes(params, "bfloat16") + GiB // 8  # bf16 fits, fp32 does not
    plan = plan_load(config, device="cpu", available_bytes=free)
    assert plan.dtype == "bfloat16" and plan.notes and plan.placement == "single"
    with pytest.raises(ModelTooLargeError):
        plan_load(config, device="cpu", available_bytes=GiB // 4, disk_bytes=0)


def test_large_switch_checkpoints_are_listed_with_sizes():
    entries = {e.name: e for e in list_models()}
    for name, billions in (("google/switch-large-128", 26), ("google/switch-xxl-128", 395),
                           ("google/switch-c-2048", 1571)):
        entry = entries[name]
        assert entry.family == "switch" and entry.params == billions * 10**9 and entry.params_approx
        assert entry.num_experts == int(name.rsplit("-", 1)[1])


def test_unknown_name_lists_alternatives():
    with pytest.raises(ModelNotAvailableError, match="Known models"):
        resolve("switch-nonsense")


def test_unreachable_hub_is_remembered_for_a_minute(monkeypatch):
    import socket

    import core.models.hub as models

    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise OSError("connection refused")

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid:443")
    monkeypatch.setattr(models, "_HUB_CHECK", {})
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert models.hub_reachable() is False and models.hub_reachable() is False
    assert len(calls) == 1  # the second answer came from memory: an app rerun does not wait again
    monkeypatch.setattr(models, "HUB_CHECK_TTL_S", 0.0)
    assert models.hub_reachable() is False and len(calls) == 2


def test_precision_policy_computes_demos_in_float32(monkeypatch):
    """float32 wherever the model fits, whatever the CPU's bf16 speed; half precision only when asked."""
    loaded = load_model("demo-switch-8")
    assert loaded.dtype == "float32" and not loaded.notes
    assert load_model("demo-switch-8", dtype="bfloat16").dtype == "bfloat16"


def test_precision_policy_falls_back_to_half_precision_with_a_note():
    config = SwitchTransformersConfig(num_experts=8)
    params = count_parameters(config)
    free = estimate_bytes(params, "bfloat16") + GiB // 8  # bf16 fits, fp32 does not
    plan = plan_load(config, device="cpu", available_bytes=free)
    assert plan.dtype == "bfloat16" and any("float32 would need" in n and "bfloat16" in n for n in plan.notes)
    roomy = plan_load(config, device="cpu", available_bytes=100 * GiB)
    assert roomy.dtype == "float32" and not roomy.notes


def test_a_cpu_model_lets_go_of_its_checkpoints_memory_maps(tmp_path):
    """Tensors loaded as they are point into the memory-mapped safetensors file, keeping every page the loader touched
    resident (1.7× the weights on an OLMoE-1B-7B-shaped checkpoint); after load_model none does, and no checkpoint file
    stays mapped (Linux: /proc/self/maps)."""
    from pathlib import Path

    from core.models.loading import load_model
    from core.models.memory_maps import _mapped_checkpoint_ranges
    from helpers import build_tiny_decoder

    if not Path("/proc/self/maps").exists():
        pytest.skip("memory maps are read from /proc/self/maps (Linux only)")
    folder = build_tiny_decoder(tmp_path / "m", "mixtral")
    loaded = load_model(str(folder), dtype="float32")
    mapped = _mapped_checkpoint_ranges()
    owned = [t for t in [*loaded.model.parameters(), *loaded.model.buffers()]
             if any(a <= t.data_ptr() < b for a, b in mapped)]
    assert not owned
    assert not any(str(folder) in line for line in Path("/proc/self/maps").read_text().splitlines())
