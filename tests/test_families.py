"""Decoder-only MoE families: tiny random checkpoints of each, built here (no download), traced through the
same loader and tracer as Switch; routers, probabilities, top-k choices, pooling, causality, offload."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.errors import InputError, ModelNotAvailableError, UnsupportedModelError
from core.models.adapters import DECODER_FAMILIES
from core.models.loading import load_model
from core.models.registry import list_models, resolve
from core.tracing.tracer import Tracer
from core.training.tokenizer_train import train_t5_tokenizer
from helpers import CORPUS, TINY_DECODER_FAMILIES, build_tiny_decoder

FAMILIES = list(TINY_DECODER_FAMILIES)  # the rest (Gemma 4, DBRX, ZAYA, LongCat-Flash): tests/test_model_types.py
SPARSE_LAYERS = {"qwen2_moe": [0, 2], "qwen3_moe": [0, 2], "deepseek_v2": [1, 2], "jamba": [1, 3], "deepseek_v3": [1, 2],
                 "glm4_moe": [1, 2], "dots1": [1, 2]}  # others: all three
TEXT = "The bank raised its interest rates again this spring."


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory):
    return {f: build_tiny_decoder(tmp_path_factory.mktemp(f"tiny-{f}"), f, seed=i) for i, f in enumerate(FAMILIES)}


@pytest.fixture(scope="module")
def mixtral_dir(family_dirs):
    return family_dirs["mixtral"]


def _layer(name: str) -> int:
    return int(name.split(".")[name.split(".").index("layers") + 1])


def _router_inputs(loaded, text: str) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]:
    """The hidden states each router receives, and the experts each experts module is handed (its top-k index
    argument: what the model dispatched), caught by pre-hooks on the model's own modules (independent of the
    tracer's output hooks and of any adapter)."""
    seen: dict[int, torch.Tensor] = {}
    dispatched: dict[int, torch.Tensor] = {}
    handles = []
    for name, module in loaded.model.named_modules():
        kind = type(module).__name__
        if kind.endswith(("TopKRouter", "TopkRouter", "MoEV1Gate", "Llama4Router")):
            handles.append(module.register_forward_pre_hook(lambda _m, args, layer=_layer(name): seen.__setitem__(
                layer, args[0].detach().reshape(-1, args[0].shape[-1]))))
        elif kind.endswith("Experts") and "layers" in name.split("."):
            handles.append(module.register_forward_pre_hook(lambda _m, args, layer=_layer(name): dispatched.__setitem__(
                layer, _handed(args, loaded.num_experts, loaded.top_k))))
    ids = torch.tensor([loaded.tokenizer(text)["input_ids"]])
    with torch.no_grad():
        loaded.model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False)
    for h in handles:
        h.remove()
    return seen, dispatched


def _handed(args: tuple, experts: int, k: int) -> torch.Tensor:
    """The experts an experts module was handed, per token: its index argument, or (Llama 4, whose experts take every
    token with the input scaled by its score) the experts whose input for the token is not zero."""
    if len(args) > 1:
        return args[1].detach().reshape(-1, args[1].shape[-1])
    live = args[0].detach().reshape(experts, -1, args[0].shape[-1]).abs().amax(-1).T > 0
    assert (live.sum(-1) == k).all()
    return torch.nonzero(live)[:, 1].reshape(-1, k)


def _expected_selection(family: str, config, probs: np.ndarray, k: int) -> np.ndarray:
    """What the family's routing rule chooses from the full distribution (as sorted expert sets)."""
    if family == "deepseek_v2" and config.topk_method == "group_limited_greedy":
        groups = probs.reshape(len(probs), config.n_group, -1)
        keep = np.argsort(-groups.max(-1), axis=-1)[:, : config.topk_group]
        mask = np.zeros_like(groups, dtype=bool)
        np.put_along_axis(mask, keep[..., None], True, axis=1)
        probs = np.where(mask.reshape(probs.shape), probs, 0.0)
    return np.sort(np.argsort(-probs, axis=-1)[:, :k], axis=-1)


@pytest.mark.parametrize("family", FAMILIES)
def test_family_routers_probabilities_topk_and_pooling(family, family_dirs):
    loaded = load_model(str(family_dirs[family]), dtype="float32")
    assert loaded.family == family and loaded.architecture == "decoder-only" and loaded.stacks == ("decoder",)
    assert loaded.top_k == 2 and loaded.num_experts == 8 and loaded.entry.family == family
    tracer = Tracer(loaded)
    assert [b for b, _ in tracer.routers["decoder"]] == SPARSE_LAYERS.get(family, [0, 1, 2])
    trace = tracer.trace(TEXT, stacks=("encoder", "decoder"))[0]
    assert list(trace.stacks) == ["decoder"]  # one stack whatever is asked
    s = trace.stacks["decoder"]

    # The distribution = the family's scoring of the router's own logits, recomputed in float64 from its input
    # (softmax; sigmoid scores normalised to sum to one for the sigmoid scorers); logits include a router's bias.
    inputs, dispatched = _router_inputs(loaded, TEXT)
    routers = dict(tracer.routers["decoder"])
    for li, block in enumerate(s.layers):
        router = routers[int(block)]
        logits = inputs[int(block)].double() @ loaded.adapter.router_weight(router).double().T
        if isinstance(getattr(router, "bias", None), torch.Tensor):
            logits = logits + router.bias.detach().double()
        scores = torch.sigmoid(logits) if loaded.adapter.scoring.key.startswith("sigmoid") else None
        expected = (scores / scores.sum(-1, keepdim=True) if scores is not None else torch.softmax(logits, -1)).numpy()
        np.testing.assert_allclose(s.token_probs[li], expected, atol=2e-6)
        assert np.all(np.abs(expected.max(-1) - expected.min(-1)) > 1e-3), "router distributions are not trivial"
        # The experts the trace records = what the model's experts module was handed, token by token.
        chosen = np.sort(s.selected[li].astype(np.int64), axis=-1)
        np.testing.assert_array_equal(chosen, np.sort(dispatched[int(block)].numpy(), axis=-1))
        if not loaded.adapter.scoring.choice_may_differ or family == "deepseek_v2":  # the rule, from the distribution
            np.testing.assert_array_equal(chosen, _expected_selection(family, loaded.config, expected, loaded.top_k))
    assert s.selected.shape == (len(s.layers), len(trace.tokens), 2)
    assert not s.dropped.any()

    # Words: mean of their tokens' rows, each a distribution.
    np.testing.assert_allclose(s.word_probs.sum(-1), 1.0, atol=1e-5)
    for w in range(len(trace.words)):
        rows = np.nonzero(trace.token_word == w)[0]
        np.testing.assert_allclose(s.word_probs[:, w], s.token_probs[:, rows].mean(axis=1), atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_left_context_only_and_batching_changes_nothing(family, family_dirs):
    """Causal attention: a prefix routes identically whatever follows; padding in a batch changes nothing."""
    tracer = Tracer(load_model(str(family_dirs[family]), dtype="float32"))
    short, long = "I sat on the river bank", "I sat on the river bank and watched the water flow by"
    alone = [tracer.trace(t)[0] for t in (short, long)]
    together = tracer.trace([short, long])
    for a, b in zip(alone, together):
        np.testing.assert_allclose(a.stacks["decoder"].token_probs, b.stacks["decoder"].token_probs, atol=1e-5)
    a, b = alone
    n = len(a.tokens) - 1  # all but the final </s>
    assert a.tokens[:n] == b.tokens[:n]
    np.testing.assert_allclose(a.stacks["decoder"].token_probs[:, :n], b.stacks["decoder"].token_probs[:, :n],
                               atol=1e-5)


def test_offload_across_cpu_and_disk_gives_the_same_trace(mixtral_dir, tmp_cache):
    plain = load_model(str(mixtral_dir), dtype="float32")
    assert not (tmp_cache / "offload").exists(), "planning alone creates no offload folder"
    weights = sum(p.numel() * 4 for p in plain.model.parameters())
    split = load_model(str(mixtral_dir), dtype="float32", placement="offload", max_memory={"cpu": weights // 2})
    placed = set(split.model.hf_device_map.values())
    assert placed == {"cpu", "disk"} and split.device == "cpu+disk" and split.placement == "offload"
    assert any((tmp_cache / "offload").rglob("*")), "offloaded weights are on disk under the cache"
    texts = ["I sat on the river bank.", "The bank raised its rates."]
    for a, b in zip(Tracer(plain).trace(texts), Tracer(split).trace(texts)):
        np.testing.assert_allclose(a.stacks["decoder"].token_probs, b.stacks["decoder"].token_probs, atol=1e-6)
        np.testing.assert_array_equal(a.stacks["decoder"].selected, b.stacks["decoder"].selected)


def test_switch_offload_across_cpu_and_disk_gives_the_same_trace(tiny_model_dir, tmp_cache):
    plain = load_model(str(tiny_model_dir), dtype="float32")
    weights = sum(p.numel() * 4 for p in plain.model.parameters())
    split = load_model(str(tiny_model_dir), dtype="float32", placement="offload", max_memory={"cpu": weights // 2})
    assert set(split.model.hf_device_map.values()) == {"cpu", "disk"}
    a, b = Tracer(plain).trace("I sat on the river bank.")[0], Tracer(split).trace("I sat on the river bank.")[0]
    for stack in ("encoder", "decoder"):
        np.testing.assert_allclose(a.stacks[stack].token_probs, b.stacks[stack].token_probs, atol=1e-6)


def test_registry_lists_the_smallest_checkpoint_of_every_family():
    entries = {e.name: e for e in list_models()}
    for fam in DECODER_FAMILIES.values():
        entry = entries[fam.smallest]
        assert entry.family == fam.name and entry.source == "hub" and entry.params == fam.smallest_params
        assert entry.architecture == "decoder-only"
    assert entries["facebook/nllb-moe-54b"].architecture == "encoder-decoder"
    assert resolve("allenai/OLMoE-1B-7B-0924").family == "olmoe"
    assert resolve("mistralai/Mixtral-8x7B-v0.1").family == "mixtral"


def test_unreachable_hub_model_is_a_clear_error():
    with pytest.raises(ModelNotAvailableError, match="not in the local Hugging Face cache"):
        load_model("allenai/OLMoE-1B-7B-0924")


def test_gated_and_missing_hub_repos_get_their_own_message():
    from unittest.mock import MagicMock

    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    from core.models.hub import hub_failure_message

    def hub_error(cls, text):  # huggingface_hub's errors carry the HTTP response; its content does not matter here
        return cls(text, response=MagicMock())

    def as_transformers_raises(err):  # transformers re-raises Hub errors as OSError `from` the original
        try:
            raise OSError("someone/x is not a local folder and is not a valid model identifier") from err
        except OSError as wrapped:
            return wrapped

    location = "mistralai/Mixtral-8x7B-v0.1"
    gated = hub_failure_message(location, hub_error(GatedRepoError, "401 Client Error. Cannot access gated repo"))
    assert "gated" in gated and "HF_TOKEN" in gated and "huggingface.co/mistralai/Mixtral-8x7B-v0.1" in gated
    assert "gated" in hub_failure_message(location, as_transformers_raises(hub_error(GatedRepoError, "401")))
    missing = hub_failure_message("someone/no-such-moe", hub_error(RepositoryNotFoundError, "404 Client Error."))
    assert "no model 'someone/no-such-moe'" in missing
    wrapped = as_transformers_raises(hub_error(RepositoryNotFoundError, "404 Client Error."))
    assert "no model" in hub_failure_message("someone/x", wrapped)
    assert "no such revision" in hub_failure_message("someone/x", hub_error(RevisionNotFoundError, "404"))
    # The message text alone decides nothing: an OSError that merely says "404" is an unreachable Hub.
    assert "could not be reached" in hub_failure_message("someone/x", OSError("404 Client Error"))
    offline = hub_failure_message(location, OSError("We couldn't connect to 'https://huggingface.co'"))
    assert "could not be reached" in offline


def test_dense_decoder_is_refused_with_the_supported_families(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2)).save_pretrained(tmp_path)
    with pytest.raises(UnsupportedModelError, match="llama.*mixtral.*olmoe"):
        load_model(str(tmp_path))


def test_a_known_moe_architecture_not_yet_traced_is_refused_with_its_reason(tmp_path):
    """An architecture Routing Lens cannot read is refused with the reason (JetMoE's gating returns per-expert
    batches)."""
    for model_type, reason in (("jetmoe", "per-expert batches"),):
        folder = tmp_path / model_type
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
        (folder / "model.safetensors").write_bytes(b"")
        with pytest.raises(UnsupportedModelError, match=reason) as err:
            load_model(str(folder))
        assert "does not trace yet" in str(err.value) and "deepseek_v3" in str(err.value)


def test_a_multimodal_llama4_is_traced_through_its_text_tower(tmp_path):
    """A tiny Llama 4 vision-language checkpoint: its text tower's routers are traced on text alone (the scores, the
    experts its blocks scaled in), and the self-check passes on it."""
    from transformers import AutoConfig, AutoModel

    from core.tracing.self_check import self_check

    tok = train_t5_tokenizer(CORPUS * 20, vocab_size=260, extra_ids=0)
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=32, intermediate_size_mlp=64,
                num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16, num_local_experts=8,
                num_experts_per_tok=2, interleave_moe_layer_step=1, max_position_embeddings=256, pad_token_id=0,
                eos_token_id=1, bos_token_id=None)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28,
                  patch_size=14, vision_output_dim=32, projector_input_dim=32, projector_output_dim=32)
    torch.manual_seed(0)
    AutoModel.from_config(AutoConfig.for_model("llama4", text_config=text, vision_config=vision)).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded = load_model(str(tmp_path), dtype="float32")
    assert loaded.family == "llama4" and (loaded.num_experts, loaded.top_k) == (8, 2)
    assert type(loaded.model).__name__ == "Llama4ForConditionalGeneration"
    s = Tracer(loaded, cache=None).trace(TEXT)[0].stacks["decoder"]
    assert list(s.layers) == [0, 1] and np.allclose(s.token_probs.sum(-1), 1, atol=1e-5)
    _inputs, dispatched = _router_inputs(loaded, TEXT)
    for li, block in enumerate(s.layers):
        np.testing.assert_array_equal(np.sort(s.selected[li], -1), np.sort(dispatched[int(block)].numpy(), -1))
    assert self_check(loaded).ok is True


UNVERIFIED = {  # MoE families no adapter knows: traced by their module names, labelled, self-checked
    "flex_olmo": dict(num_experts=8),
    "exaone_moe": dict(num_experts=8, moe_intermediate_size=32, num_shared_experts=1, first_k_dense_replace=0),
}


@pytest.mark.parametrize("model_type", list(UNVERIFIED))
def test_an_unknown_moe_family_is_traced_as_unverified_with_the_self_checks_verdict(model_type, tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM

    from core.tracing.self_check import self_check

    tok = train_t5_tokenizer(CORPUS * 20, vocab_size=260, extra_ids=0)
    config = AutoConfig.for_model(model_type, vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                  num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                                  max_position_embeddings=256, pad_token_id=0, bos_token_id=None, eos_token_id=1,
                                  num_experts_per_tok=2, tie_word_embeddings=False, **UNVERIFIED[model_type])
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded = load_model(str(tmp_path), dtype="float32")
    assert loaded.adapter.verified is False and "unverified family" in loaded.adapter.copy.label
    assert loaded.num_experts == 8 and loaded.top_k == 2
    s = Tracer(loaded).trace(TEXT)[0].stacks["decoder"]
    _inputs, dispatched = _router_inputs(loaded, TEXT)
    for li, block in enumerate(s.layers):
        np.testing.assert_array_equal(np.sort(s.selected[li], -1), np.sort(dispatched[int(block)].numpy(), -1))
    assert self_check(loaded).ok is True


def test_a_model_with_no_router_says_what_was_looked_for(tmp_path):
    """A config that names experts but whose model holds no router beside an `experts` module is refused, and the
    message names what was looked for."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2)
    config.num_local_experts, config.num_experts_per_tok = 4, 2  # says "MoE", holds a dense MLP
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    train_t5_tokenizer(CORPUS, vocab_size=64, extra_ids=0).save_pretrained(tmp_path)
    loaded = load_model(str(tmp_path), dtype="float32")
    with pytest.raises(InputError, match="looked for an expert count .* found no router"):
        Tracer(loaded)


def test_reproduce_cli_on_a_decoder_only_model_beside_switch(mixtral_dir, tiny_model_dir, tmp_path, tmp_cache):
    from core.cli import main

    out = tmp_path / "out"
    assert main(["reproduce", "--model", str(tiny_model_dir), "--model", str(mixtral_dir), "--limit", "30",
                 "--out", str(out), "--dtype", "float32"]) == 0
    t1 = pd.read_csv(out / "table1.csv")
    mix = t1[t1.model == str(mixtral_dir)]
    assert set(mix["stack"]) == {"decoder"} and len(mix) == 2 and mix.published_rho.isna().all()
    assert t1[t1.model == str(tiny_model_dir)].published_rho.isna().all()  # not the paper's checkpoint
    comparison = pd.read_csv(out / "comparison.csv")
    assert list(comparison.architecture) == ["encoder-decoder", "encoder-decoder", "decoder-only"]
    assert list(comparison.top_k) == [1, 1, 2]
    assert comparison[["association ρ", "SCWS ρ with context", "WiC Cohen's d"]].notna().all().all()
    # Different families are pooled separately in the figures' frames.
    assert {"pooled switch", "pooled mixtral"} <= set(pd.read_csv(out / "cohens_d.csv").model)
    notes = (out / "notes.txt").read_text()
    assert "left context" in notes
    assert "Across models" in (out / "report.html").read_text()


def _app(model: str, page: str) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=180)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.app
def test_every_page_on_a_decoder_only_model(mixtral_dir, tiny_model_dir, tmp_cache, monkeypatch):
    monkeypatch.setenv("ROUTING_LENS_MODEL", str(mixtral_dir))
    at = _app(str(mixtral_dir), "app_pages/trace.py")
    # 2 sentences x 1 stack x (top-1 grid + load/entropy), and the first sentence's 3 per-layer heatmaps (the second's
    # expander is closed: its heatmaps are drawn when it is opened)
    assert len(at.get("plotly_chart")) == 7
    assert any("one stack (decoder)" in c.value and "left" in c.value for c in at.caption)
    assert any("top-2 experts" in c.value for c in at.caption)

    at = _app(str(mixtral_dir), "app_pages/compare.py")
    at.text_input(key="cmp_s1").set_value("I sat on the river bank")
    at.text_input(key="cmp_s2").set_value("The bank raised its rates")
    at.text_input(key="cmp_s3").set_value("")  # two sentences alone: no control
    at.text_input(key="cmp_w").set_value("bank").run()
    assert not at.exception
    assert [m.label.split()[0] for m in at.metric] == ["decoder"]
    assert any("only the words before" in c.value for c in at.caption)
    at.selectbox(key="cmp_model2").set_value("demo-switch-8").run()  # side by side with an encoder-decoder model
    assert not at.exception, [e.value for e in at.exception]
    assert [m.label for m in at.metric][1:] == ["demo-switch-8 · encoder JSS", "demo-switch-8 · decoder JSS"]
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [t["name"] for t in chart["data"]] == [f"{mixtral_dir} · decoder", "demo-switch-8 · encoder",
                                                  "demo-switch-8 · decoder"]
    assert chart["layout"]["xaxis"]["title"]["text"].startswith("sparse layer")  # models share a layer axis
    from core.viz.style import STACK_COLORS

    lines = {t["name"]: t["line"] for t in chart["data"]}  # colour = stack, as with one model; the second dashed
    assert lines[f"{mixtral_dir} · decoder"]["color"] == STACK_COLORS["decoder"]
    assert lines["demo-switch-8 · decoder"]["color"] == STACK_COLORS["decoder"]
    assert lines["demo-switch-8 · decoder"].get("dash") == "dash" and not lines[f"{mixtral_dir} · decoder"].get("dash")
    assert chart["layout"]["xaxis"]["ticktext"][0] == "block 0"  # the first model's block names, as alone
    marks = " ".join(a["text"] for a in chart["layout"]["annotations"])
    assert "1.0" in marks and "unrelated" not in marks  # the first model's own yardstick is not drawn on both
    at.selectbox(key="cmp_model2").set_value("allenai/OLMoE-1B-7B-0924").run()  # not loadable offline
    assert not at.exception and len(at.metric) == 1
    assert any("could not be loaded" in w.value for w in at.warning)
    assert any("not in the local Hugging Face cache" in e.value for e in at.sidebar.error)

    at = _app(str(mixtral_dir), "app_pages/learn.py")
    assert any("no capacity limit at inference" in m.value for m in at.markdown)
    assert not any("(dropped)" in str(o) for o in at.selectbox(key="learn_token").options)  # no token's fate is a drop
    assert any("decoder-only" in i.value and "top-2 of 8" in i.value for i in at.info)

    from core.lens import reproduce
    from core.lens.compute import results_dir

    tracers = [Tracer(load_model(str(d), dtype="float32")) for d in (tiny_model_dir, mixtral_dir)]
    reproduce(tracers, results_dir(["both"], 20), limit=20)
    at = _app(str(mixtral_dir), "app_pages/benchmarks.py")
    shown = next(d.value for d in at.dataframe if "ρ [95% CI]" in d.value.columns)  # Table 1
    assert sorted(shown["stack"]) == ["decoder"] * 4 + ["encoder"] * 2  # Switch: both stacks; Mixtral: its one
    assert "published ρ" not in shown.columns  # neither is the paper's checkpoint: no column of dashes, a line says so
    assert any("None of these models is one of the paper's checkpoints" in c.value for c in at.caption)
    # the paper's switch-base-8 values, as a separate reference for the Switch demo
    reference = next(t.value for t in at.table if t.value.index.name == "paper")
    assert set(reference.index) == {"google/switch-base-8 (published)"} and len(reference) == 4
    comparison = next(d.value for d in at.dataframe if "architecture" in d.value.columns)
    assert set(comparison.architecture) == {"encoder-decoder", "decoder-only"}
    assert any("- Decoder-only models" in i.value for i in at.info)  # the run's notes, in one note
    claims = next(d.value for d in at.dataframe if "evidence" in d.value.columns)
    assert set(claims.model) == {tracers[0].loaded.name, tracers[1].loaded.name}
    scopes = at.selectbox(key="bench_scope").options  # one model at a time first; pooling is a labelled choice
    assert scopes[:2] == [tracers[0].loaded.name, tracers[1].loaded.name]
    assert [s for s in scopes if s.startswith("pooled")] == [
        "pooled switch — pairs of several models pooled (mixes expert counts)",
        "pooled mixtral — pairs of several models pooled (mixes expert counts)"]


@pytest.mark.parametrize("text", ["", "🙂🎉 emoji only 🙂", "中文的银行在河边", "שלום עולם مرحبا بالعالم",
                                  "<script>alert('x')</script>", "\u200b\u200b", "bank " * 2000])
@pytest.mark.app
def test_trace_page_survives_odd_input_on_a_decoder_only_model(text, mixtral_dir, tmp_cache, monkeypatch):
    monkeypatch.setenv("ROUTING_LENS_MODEL", str(mixtral_dir))
    at = AppTest.from_file("../app.py", default_timeout=180)
    at.run()
    at.text_area(key="trace_text").set_value(text).run()
    assert not at.exception, [e.value for e in at.exception]
    if not text.strip():
        assert at.info and not at.get("plotly_chart")
    elif len(text) > 5000:
        assert any("only the first" in w.value for w in at.warning)
    else:
        assert at.get("plotly_chart")


def test_truncation_adds_no_end_token_the_tokenizer_did_not_add(mixtral_dir):
    """Causal tokenizers mostly add no EOS: truncation must then keep the first tokens and append nothing."""
    tracer = Tracer(load_model(str(mixtral_dir), dtype="float32"), max_tokens=12)
    text = "the bank of the river " * 20
    full = tracer.encode(text)
    assert full.truncated and full.ids[-1] == tracer.eos_id  # this tokenizer does add </s>: it is kept
    tracer.eos_id = 2  # as for a tokenizer whose EOS is not appended
    cut = tracer.encode(text)
    all_ids = tracer.loaded.tokenizer(text)["input_ids"]
    assert cut.ids == all_ids[:12] and cut.truncated and cut.n_input_tokens == len(all_ids)


def test_top_k_selections_survive_the_trace_cache(mixtral_dir, tmp_path):
    from core.tracing.cache import TraceCache

    tracer = Tracer(load_model(str(mixtral_dir), dtype="float32"), cache=TraceCache(tmp_path / "traces"))
    first = tracer.trace("The bank raised its rates.")[0]
    again = tracer.trace("The bank raised its rates.")[0]  # from disk
    assert again is not first
    np.testing.assert_array_equal(again.stacks["decoder"].selected, first.stacks["decoder"].selected)
    assert again.stacks["decoder"].top_k == 2
    assert again.to_json()["decoder"]["selected"] == first.stacks["decoder"].selected.tolist()


@pytest.mark.parametrize("family", FAMILIES)
def test_stopping_at_the_last_router_changes_nothing(family_dirs, family):
    """The pass stops once the last router has fired; every probability, choice and drop is what the full pass
    gives (and the model is left usable for the next pass)."""
    loaded = load_model(str(family_dirs[family]), dtype="float32")
    texts = [TEXT, "a short one", "spring water runs down to the river bank"]
    full = Tracer(loaded, stop_early=False).trace(texts)
    early = Tracer(loaded).trace(texts)
    for a, b in zip(full, early):
        for stack, s in a.stacks.items():
            t = b.stacks[stack]
            assert torch.equal(torch.from_numpy(s.token_probs), torch.from_numpy(t.token_probs))
            assert (s.selected == t.selected).all() and (s.dropped == t.dropped).all()


def test_experts_kernel_choice_on_a_decoder_only_family(mixtral_dir):
    """transformers' own switch for decoder-only families: the loop ("eager") and grouped GEMM give the same
    routing."""
    loop = load_model(str(mixtral_dir), dtype="float32", experts_kernel="loop")
    grouped = load_model(str(mixtral_dir), dtype="float32", experts_kernel="grouped")
    assert (loop.experts_kernel, grouped.experts_kernel) == ("loop", "grouped")
    texts = [TEXT, "a short one"]
    for x, y in zip(Tracer(loop).trace(texts), Tracer(grouped).trace(texts)):
        s, t = x.stacks["decoder"], y.stacks["decoder"]
        np.testing.assert_allclose(s.token_probs, t.token_probs, rtol=0, atol=1e-6)
        assert np.array_equal(s.selected, t.selected)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_passes_the_self_check(family, family_dirs):
    """The experts read off each family's router are what its experts module was handed, and the module's output
    is the weighted sum of those experts run alone (core.tracing.self_check)."""
    from core.tracing.self_check import self_check

    result = self_check(load_model(str(family_dirs[family]), dtype="float32"))
    assert result.ok is True, result.summary()
    assert [layer.block for layer in result.layers] == SPARSE_LAYERS.get(family, [0, 1, 2])


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_every_family_passes_the_self_check_in_half_precision(dtype, family_dirs, tiny_model_dir):
    """A healthy model passes in the precision real checkpoints run in: the tolerance follows the dtype's rounding
    (2k of its roundings plus the float32 accumulation of k ⌈√d⌉ terms, × the largest output), and Switch's traced expert is the one the model
    chose in that dtype (its argmax over the half-precision probabilities), not float32's at a near-tie."""
    from core.tracing.self_check import self_check

    for name, folder in [*family_dirs.items(), ("switch", tiny_model_dir)]:
        loaded = load_model(str(folder), dtype=dtype)
        result = self_check(loaded)
        assert result.ok is True, (name, result.summary())
        eps = float(torch.finfo(getattr(torch, dtype)).eps)
        assert all(layer.eps == eps and layer.terms == 2 * loaded.top_k and layer.tolerance == pytest.approx(
            (layer.terms * eps + layer.accumulated * float(torch.finfo(torch.float32).eps)) * layer.scale, rel=1e-9)
                   for layer in result.layers), name
        assert max(layer.max_diff / (eps * layer.scale) for layer in result.layers if layer.scale) <= 2.2 * 1.5


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_near_flat_routers_in_half_precision_trace_the_experts_the_model_dispatched(dtype, family_dirs,
                                                                                   tiny_model_dir):
    """Routers shrunk to near-flat (weights × 0.02) make near-ties that half precision breaks its own way: for every
    known family and Switch, the traced choice is still exactly what each experts module was handed (the self-check's
    reading check), and the model passes."""
    from core.tracing.self_check import self_check

    for name, folder in [*family_dirs.items(), ("switch", tiny_model_dir)]:
        loaded = load_model(str(folder), dtype=dtype)
        with torch.no_grad():
            for _stack, found in loaded.adapter.routers(loaded.model).items():
                for _block, router in found:
                    for p in router.parameters():
                        if p.dim() == 2:
                            p.mul_(0.02)
        result = self_check(loaded)
        assert all(layer.reading_matches for layer in result.layers), (name, dtype)
        assert result.ok is True, (name, result.summary())


def test_a_selection_bias_moves_the_choice_and_the_trace_follows_the_model(family_dirs):
    """DeepSeek-V3's selection-only bias: pushed hard towards expert 7, the model dispatches it for every token while
    the distribution (sigmoid scores, normalised; the bias is not part of it) does not change. The trace records the
    model's choice, not the distribution's top-k."""
    loaded = load_model(str(family_dirs["deepseek_v3"]), dtype="float32")
    tracer = Tracer(loaded, cache=None)
    before = tracer.trace(TEXT)[0].stacks["decoder"]
    for _block, router in tracer.routers["decoder"]:
        router.e_score_correction_bias[7] = 10.0
    after = tracer.trace(TEXT)[0].stacks["decoder"]
    # the first sparse layer's distribution is unmoved (later layers read states the new choice changed)
    np.testing.assert_allclose(after.token_probs[0], before.token_probs[0], atol=1e-6)
    assert (after.selected == 7).any(-1).all()  # every token now dispatched to expert 7
    top = np.argsort(-after.token_probs, axis=-1)[..., : loaded.top_k]
    assert (np.sort(top, -1) != np.sort(after.selected, -1)).any()  # where the choice is not the distribution's top-k
    differs = (np.sort(top, -1) != np.sort(after.selected, -1)).any(-1)
    np.testing.assert_array_equal(after.choice_differs, differs)  # recorded per token, in the trace and its CSV
    frame = tracer.trace(TEXT)[0].to_frame("decoder")
    per_token = frame.groupby(["layer", "position"])["choice_differs"].first().to_numpy().reshape(differs.shape)
    np.testing.assert_array_equal(per_token, differs)
    assert not before.choice_differs[0].all()
    _inputs, dispatched = _router_inputs(loaded, TEXT)
    for li, block in enumerate(after.layers):
        np.testing.assert_array_equal(np.sort(after.selected[li], -1), np.sort(dispatched[int(block)].numpy(), -1))
    assert loaded.adapter.scoring.choice_may_differ


def test_the_self_check_catches_a_model_that_does_not_do_what_its_router_says(mixtral_dir, monkeypatch, capsys):
    """An experts module that runs experts 0 and 1 whatever it is handed (NLLB-MoE's fault in transformers 5.23, here
    planted in a tiny Mixtral) fails the dispatch check, and `check-model` says so with exit code 1; a reading that
    disagrees with the dispatch fails the reading check."""
    from core.cli import main
    from core.tracing.self_check import self_check

    loaded = load_model(str(mixtral_dir), dtype="float32")
    assert self_check(loaded).ok is True
    experts = type(loaded.model.layers[0].mlp.experts)
    honest = experts.forward

    def faulty(self, hidden, index, weights):
        return honest(self, hidden, torch.arange(index.shape[1]).expand_as(index).to(index), weights)

    monkeypatch.setattr(experts, "forward", faulty)
    result = self_check(loaded)
    assert result.ok is False and "FAILED" in result.summary() and all(layer.reading_matches for layer in result.layers)
    monkeypatch.setenv("ROUTING_LENS_MODEL", str(mixtral_dir))
    assert main(["check-model", str(mixtral_dir)]) == 1
    assert "FAILED" in capsys.readouterr().out
    monkeypatch.setattr(experts, "forward", honest)
    adapter = type(loaded.adapter)
    reading = adapter.to_probs
    monkeypatch.setattr(adapter, "to_probs", lambda self, out: (*reading(self, out)[:2], (out[2] + 1) % 8))
    assert not any(layer.reading_matches for layer in self_check(loaded).layers)


@pytest.mark.app
def test_the_sidebar_names_the_routers_scoring_and_the_self_check(family_dirs, tmp_cache, monkeypatch):
    """A DeepSeek-V3-type model: the sidebar says its router scores with sigmoids and a selection bias, that shared
    experts run, and that the self-check passed."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ROUTING_LENS_MODEL", str(family_dirs["deepseek_v3"]))
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "**Router:** sigmoid scores" in captions and "shared:" in captions
    assert "**Self-check:** passed" in captions


@pytest.mark.app
def test_trace_and_learn_show_what_a_sigmoid_router_with_shared_experts_does(family_dirs, tmp_cache, monkeypatch):
    """DeepSeek-V3-type: the Trace grid has a shared-expert lane, marks ≠ where its bias moved the choice off the
    distribution's top-k, and Learn shows the router as a sigmoid scorer, not a softmax."""
    from core.viz.plots import top1_grid

    loaded = load_model(str(family_dirs["deepseek_v3"]), dtype="float32")
    tracer = Tracer(loaded, cache=None)
    plain = top1_grid(tracer.trace(TEXT)[0], "decoder", "token", shared=loaded.adapter.shared)
    assert [t.y[0] for t in plain.data[1:]] == ["shared (every token)"]
    def marked(fig) -> int:
        return sum("≠" in str(cell) for row in fig.data[0].text for cell in row)

    for _block, router in tracer.routers["decoder"]:
        router.e_score_correction_bias[7] = 10.0
    biased = top1_grid(tracer.trace(TEXT)[0], "decoder", "token", shared=loaded.adapter.shared)
    assert marked(biased) > marked(plain)  # the groups alone move some choices; the bias moves many more
    assert "≠ = chosen ≠ the distribution's top-k" in biased.layout.title.text

    monkeypatch.setenv("ROUTING_LENS_MODEL", str(family_dirs["deepseek_v3"]))
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.run()
    at.switch_page("app_pages/learn.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [s.value for s in at.subheader][:2] == ["1 · Scores", "2 · From scores to a distribution"]
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"].replace("<br>", " ") for c in at.get("plotly_chart")]
    assert any("(sigmoid)" in t for t in titles) and not any("Softmax turns" in t for t in titles)


def test_the_chosen_weights_reading_puts_the_models_weights_on_its_chosen_experts(family_dirs, tmp_path):
    """The sensitivity table's "distribution: the chosen weights": per token, the model's own weights on its chosen
    experts (normalised), zero elsewhere, under its own cache key (never mixed with the scores' traces)."""
    from core.tracing.cache import TraceCache

    loaded = load_model(str(family_dirs["deepseek_v3"]), dtype="float32")
    tracer = Tracer(loaded, cache=TraceCache(tmp_path / "cache"))
    chosen = tracer.with_chosen_weights()
    assert chosen.key(TEXT, ("decoder",)) != tracer.key(TEXT, ("decoder",))
    scores, weights = tracer.trace(TEXT)[0].stacks["decoder"], chosen.trace(TEXT)[0].stacks["decoder"]
    np.testing.assert_array_equal(scores.selected, weights.selected)
    for li in range(len(weights.layers)):
        support = np.zeros_like(weights.token_probs[li], dtype=bool)
        np.put_along_axis(support, weights.selected[li].astype(np.int64), True, axis=-1)
        assert (weights.token_probs[li][~support] == 0).all()
        np.testing.assert_allclose(weights.token_probs[li].sum(-1), 1.0, atol=1e-6)
    again = tracer.trace(TEXT)[0].stacks["decoder"]  # the cache kept the two readings apart
    np.testing.assert_allclose(again.token_probs, scores.token_probs)


BIAS_FAMILIES = ("deepseek_v3", "glm4_moe", "ernie4_5_moe", "lfm2_moe", "minimax_m2")


@pytest.mark.parametrize("family", BIAS_FAMILIES)
def test_a_ban_removes_the_expert_under_a_selection_bias(family, family_dirs):
    """A selection bias is added after the sigmoid or softmax, so a −∞ logit alone leaves a banned expert at 0 + its
    bias, and it can still win. With expert 3's bias at 0.5 it is dispatched; banned, the experts modules are never
    handed it (read from the model's own modules), at any layer."""
    from core.tracing.interventions import Intervention, intervening

    loaded = load_model(str(family_dirs[family]), dtype="float32")
    biases = [t for name, t in [*loaded.model.named_parameters(), *loaded.model.named_buffers()]
              if name.endswith(("e_score_correction_bias", "expert_bias"))]
    assert biases, family
    with torch.no_grad():
        for t in biases:
            t.view(-1)[3] = 0.5
    _inputs, before = _router_inputs(loaded, TEXT)
    assert any(bool((d == 3).any()) for d in before.values()), family  # the bias does move the choice to e3
    with intervening(loaded, [Intervention("ban", "decoder", None, None, (3,))]):
        _inputs, after = _router_inputs(loaded, TEXT)
    assert after and not any(bool((d == 3).any()) for d in after.values()), family
    assert all(float(t.detach().view(-1)[3]) == 0.5 for t in biases)  # the bias is the model's again afterwards


def test_force_works_on_a_bias_and_group_family_and_weights_by_its_rule(family_dirs):
    """DeepSeek-V3 (sigmoid scores, a selection bias, two expert groups of which one is kept): forcing experts 2 and 5
    — one in each group, so its own rule would never choose the pair — hands exactly those two to every experts
    module, weighted by its rule (the sigmoid scores of the two, renormalised, scaled)."""
    from core.tracing.interventions import Intervention, intervening

    loaded = load_model(str(family_dirs["deepseek_v3"]), dtype="float32")
    with torch.no_grad():
        for _block, router in Tracer(loaded, cache=None).routers["decoder"]:
            router.e_score_correction_bias[3] = 0.5
    handed: dict[int, torch.Tensor] = {}
    weights: dict[int, torch.Tensor] = {}

    def record(layer: int, args: tuple) -> None:
        handed[layer], weights[layer] = args[1].reshape(-1, 2), args[2].reshape(-1, 2)

    hooks = [module.register_forward_pre_hook(lambda _m, args, layer=_layer(name): record(layer, args))
             for name, module in loaded.model.named_modules() if type(module).__name__.endswith("Experts")]
    ids = torch.tensor([loaded.tokenizer(TEXT)["input_ids"]])
    with intervening(loaded, [Intervention("force", "decoder", None, None, (2, 5))]), torch.no_grad():
        loaded.model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False)
    for h in hooks:
        h.remove()
    assert sorted(handed) == SPARSE_LAYERS["deepseek_v3"]
    config = loaded.model.config
    for layer, index in handed.items():
        assert (index.sort(-1).values == torch.tensor([2, 5])).all(), layer
        w = weights[layer]
        assert torch.all(w > 0)
        # renormalised to the routed scaling factor (norm_topk_prob), as the model weights its own choice
        torch.testing.assert_close(w.sum(-1), torch.full((w.shape[0],), float(config.routed_scaling_factor)),
                                   rtol=1e-5, atol=1e-6)


def test_a_top_k_the_router_ignores_is_refused_and_the_engine_checks_what_the_experts_were_handed(family_dirs):
    """PhiMoE's SparseMixer always chooses two experts: asked for top-1 it is refused with its reason, not labelled
    top-1. And if anything after the router undoes an intervention (here a later hook restoring the router's own
    output), the experts module's pre-hook sees it and the pass is refused rather than reported."""
    from core.tracing.interventions import Intervention, intervening

    phimoe = load_model(str(family_dirs["phimoe"]), dtype="float32")
    with pytest.raises(InputError, match="chose 2 experts when asked for 1"):
        with intervening(phimoe, [Intervention("top_k", "decoder", None, None, k=1)]):
            Tracer(phimoe, cache=None).trace(TEXT)
    loaded = load_model(str(family_dirs["mixtral"]), dtype="float32")
    routers = Tracer(loaded, cache=None).routers["decoder"]
    ban = Intervention("ban", "decoder", None, None, (0, 1, 2))
    with intervening(loaded, [ban]):
        banned = Tracer(loaded, cache=None).trace(TEXT)[0].stacks["decoder"]
    assert not np.isin(banned.selected, [0, 1, 2]).any()
    with intervening(loaded, [ban]):
        originals = {}
        undo = [r.register_forward_pre_hook(lambda m, a, kw: originals.__setitem__(id(m), m.forward(*a, **kw)),
                                            with_kwargs=True) for _b, r in routers]
        undo += [r.register_forward_hook(lambda m, _a, _out: originals.pop(id(m))) for _b, r in routers]
        try:
            with pytest.raises(InputError, match="not handed the route this intervention wrote"):
                Tracer(loaded, cache=None).trace(TEXT)
        finally:
            for h in undo:
                h.remove()
