"""Every transformers model type with routed experts is accounted for (docs/models.md's generated table, re-derived
row by row from a tiny model of its own config class), and the families added for it work as their code says:
Gemma 4's router returns probabilities, DBRX's block chooses, ZAYA skips, LongCat-Flash has zero experts, and the
DeepSeek-sparse-attention families are traced one text per forward."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.models.loading import load_model
from core.models.tiny import build_tiny, routed_expert_folders
from core.tracing.model_types import classify, documented_rows
from core.tracing.self_check import self_check
from core.tracing.tracer import Tracer
from core.training.tokenizer_train import train_t5_tokenizer
from helpers import CORPUS

DOC = Path(__file__).resolve().parents[1] / "docs" / "models.md"
ROWS = {r.model_type: r for r in documented_rows(DOC.read_text())}
TEXT = "The bank raised its interest rates again this spring."


@pytest.fixture(scope="module")
def tok():
    return train_t5_tokenizer(CORPUS * 20, vocab_size=260, extra_ids=0)


def _dispatched(loaded, text: str, suffix: str = "Experts") -> dict[str, torch.Tensor]:
    """What each experts module was handed (its index argument, per token), by a pre-hook on the model's own module."""
    seen: dict[str, torch.Tensor] = {}

    def record(name: str, args: tuple) -> None:
        seen[name] = args[1].detach().reshape(-1, args[1].shape[-1]).clone()

    hooks = [m.register_forward_pre_hook(lambda _m, args, name=name: record(name, args))
             for name, m in loaded.model.named_modules() if type(m).__name__.endswith(suffix)]
    ids = torch.tensor([loaded.tokenizer(text)["input_ids"]])
    with torch.no_grad():
        loaded.model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False)
    for h in hooks:
        h.remove()
    return seen


def test_the_table_lists_every_routed_expert_model_type_of_the_installed_transformers():
    assert sorted(ROWS) == routed_expert_folders()
    assert len(ROWS) >= 70
    statuses = {r.status for r in ROWS.values()}
    assert statuses <= {"known", "unverified", "refused", "not measured here"}
    for name in ("gemma4", "dbrx", "zaya", "longcat_flash", "mixtral", "deepseek_v3", "switch_transformers"):
        assert ROWS[name].status == "known", name
    assert all(r.note for r in ROWS.values() if r.status in ("refused", "not measured here"))
    assert sum(r.status == "not measured here" for r in ROWS.values()) <= 12  # the table's own limit, kept small


@pytest.mark.parametrize("model_type", sorted(ROWS))  # ~0.3 s each
def test_each_model_types_row_is_what_a_tiny_model_of_it_does(model_type, tok, tmp_path):
    """Built, loaded, traced and self-checked again: the same status, family, scoring and verdict as documented. For
    a traced type the self-check's reading check is the traced choice against what its experts module was handed."""
    assert classify(model_type, tok, tmp_path) == ROWS[model_type]


def _tiny(model_type: str, tok, folder: Path, dtype: str = "float32", **changes):
    build_tiny(model_type, folder, tokenizer=tok)
    loaded = load_model(str(folder), dtype=dtype)
    with torch.no_grad():
        for name, t in [*loaded.model.named_parameters(), *loaded.model.named_buffers()]:
            for suffix, fill in changes.items():
                if name.endswith(suffix):
                    fill(t)
    return loaded


def test_gemma4_records_the_probabilities_its_router_returns(tok, tmp_path):
    """Gemma 4's router returns its softmax: recorded as they are (a softmax of them would be near uniform), with its
    `top_k_experts` read from the config and its choice equal to what its experts were handed."""
    loaded = _tiny("gemma4", tok, tmp_path, **{"router.proj.weight": lambda t: t.normal_(0, 2.0)})
    assert loaded.family == "gemma4" and loaded.top_k == 2 and loaded.num_experts == 8
    returned = []
    hooks = [m.register_forward_hook(lambda _m, _a, out: returned.append(out[0].detach().float()))
             for m in loaded.model.modules() if type(m).__name__ == "Gemma4TextRouter"]
    s = Tracer(loaded, cache=None).trace(TEXT)[0].stacks["decoder"]
    for h in hooks:
        h.remove()
    for li in range(len(s.layers)):
        np.testing.assert_allclose(s.token_probs[li], returned[li].numpy(), rtol=0, atol=1e-6)
    entropy = -(s.token_probs * np.log(s.token_probs)).sum(-1).mean()
    assert entropy < np.log(8) - 0.1  # a real distribution, not the softmax of probabilities
    handed = list(_dispatched(loaded, TEXT).values())
    for li in range(len(s.layers)):
        np.testing.assert_array_equal(np.sort(s.selected[li], -1), np.sort(handed[li].numpy(), -1))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_dbrx_is_traced_by_its_blocks_own_choice_in_its_dtype(dtype, tok, tmp_path):
    loaded = _tiny("dbrx", tok, tmp_path, dtype)
    s = Tracer(loaded, cache=None).trace(TEXT)[0].stacks["decoder"]
    handed = list(_dispatched(loaded, TEXT).values())
    assert len(handed) == len(s.layers) == 2
    for li in range(len(s.layers)):
        np.testing.assert_array_equal(np.sort(s.selected[li], -1), np.sort(handed[li].numpy(), -1))
    assert self_check(loaded).ok is True


def test_zaya_records_a_skip_as_its_own_column_not_expert_0(tok, tmp_path):
    """With the skip column's balancing bias at 0 (not its initial −1), ZAYA skips for some tokens: its router hands the experts module
    expert 0 at weight 0, and the trace records column E ("no expert")."""
    loaded = _tiny("zaya", tok, tmp_path, balancing_biases=lambda t: t.__setitem__(-1, 0.0))  # as the experts
    adapter = loaded.adapter
    assert adapter.routed_experts == 8 and loaded.num_experts == 9 and adapter.extra_columns == {8: "no expert"}
    s = Tracer(loaded, cache=None).trace(TEXT)[0].stacks["decoder"]
    assert s.token_probs.shape[-1] == 9
    skipped = s.selected == 8
    assert skipped.any() and not skipped.all()
    assert self_check(loaded).ok is True
    trace = Tracer(loaded, cache=None).trace(TEXT)[0]
    assert trace.column(8) == "no expert" and trace.column(3) == "e3"
    from core.tracing.routing_trace import RoutingTrace
    from core.viz.plots import top1_grid

    assert RoutingTrace.from_bytes(trace.to_bytes()).column_names == {8: "no expert"}  # kept in the trace cache
    grid = top1_grid(trace, "decoder", "token")
    assert any("no expert" in str(cell) for row in grid.data[0].text for cell in row)
    assert "“no expert”" in adapter.sidebar_note()


def test_longcat_flash_zero_experts_are_named_columns(tok, tmp_path):
    loaded = _tiny("longcat_flash", tok, tmp_path, e_score_correction_bias=lambda t: t[8:].fill_(1.0))
    adapter = loaded.adapter
    assert adapter.routed_experts == 8 and loaded.num_experts == 10
    assert adapter.extra_columns == {8: "zero expert", 9: "zero expert"}
    s = Tracer(loaded, cache=None).trace(TEXT)[0].stacks["decoder"]
    handed = list(_dispatched(loaded, TEXT).values())
    assert (s.selected >= 8).any()  # the bias sends tokens to the zero experts, and the trace says so
    for li in range(len(s.layers)):
        np.testing.assert_array_equal(np.sort(s.selected[li], -1), np.sort(handed[li].numpy(), -1))
    result = self_check(loaded)
    assert result.ok is True, result.summary()


def test_a_dsa_familys_trace_is_the_same_alone_and_in_a_batch(tok, tmp_path):
    """DeepSeek-V3.2's indexer picks keys over the padded batch: a text is traced alone whatever it is traced with,
    and the self-check says why."""
    loaded = _tiny("deepseek_v32", tok, tmp_path)
    assert "index_topk" in loaded.adapter.one_text_per_forward
    tracer = Tracer(loaded, cache=None)
    assert tracer.batch_size == 1
    alone = tracer.trace(TEXT)[0].stacks["decoder"]
    batched = tracer.trace([TEXT, "A much longer sentence goes into the same call, and it is longer by far than the "
                                  "first one."])[0].stacks["decoder"]
    np.testing.assert_array_equal(alone.selected, batched.selected)
    np.testing.assert_allclose(alone.token_probs, batched.token_probs, rtol=0, atol=1e-6)
    result = self_check(loaded)
    assert result.ok is True and result.batch_note


def test_sigmoid_scores_sit_near_uniform_and_the_softmax_of_the_logits_sets_them_on_one_scale(tok, tmp_path):
    """Over 256 experts with logits of spread 3, normalised sigmoid scores have entropy 5.21 (uniform: 5.55) against
    2.56 for a softmax of the same logits. A sigmoid scorer's tracer therefore has a "softmax of the logits" sibling,
    under its own cache key, and a figure that sets it beside a softmax model says the scales differ."""
    from core.models.adapters.scoring import SIGMOID_BIAS_GROUP, SOFTMAX_TOPK, normalised_sigmoid, scale_note
    from core.tracing.cache import TraceCache

    logits = 3 * torch.randn(20_000, 256, generator=torch.Generator().manual_seed(0))

    def entropy(p: torch.Tensor) -> float:
        return float((-(p * p.clamp_min(1e-30).log()).sum(-1)).mean())

    assert entropy(normalised_sigmoid(logits)) == pytest.approx(5.21, abs=0.01)
    assert entropy(torch.softmax(logits, -1)) == pytest.approx(2.56, abs=0.01)
    loaded = load_model(str(build_tiny("deepseek_v3", tmp_path / "m", tokenizer=tok)), dtype="float32")
    tracer = Tracer(loaded, cache=TraceCache(tmp_path / "cache"))
    soft = tracer.with_softmax_of_logits()
    assert soft.key(TEXT, ("decoder",)) != tracer.key(TEXT, ("decoder",))
    logits_seen = []
    hooks = [m.register_forward_hook(lambda _m, _a, out: logits_seen.append(out[0].detach().float()))
             for _b, m in tracer.routers["decoder"]]
    s = soft.trace(TEXT)[0].stacks["decoder"]
    for h in hooks:
        h.remove()
    for li, block_logits in enumerate(logits_seen):
        np.testing.assert_allclose(s.token_probs[li], torch.softmax(block_logits, -1).numpy(), rtol=0, atol=1e-6)
    plain = tracer.trace(TEXT)[0].stacks["decoder"]
    np.testing.assert_array_equal(plain.selected, s.selected)  # the choice is the model's either way
    assert scale_note({"a": SOFTMAX_TOPK, "b": SOFTMAX_TOPK}) == ""
    note = scale_note({"mixtral": SOFTMAX_TOPK, "deepseek": SIGMOID_BIAS_GROUP})
    assert "Their scales differ" in note and "softmax of the logits" in note
