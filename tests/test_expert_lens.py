"""The per-expert logit lens: a planted expert whose output is one token's unembedding direction promotes that token;
the Lens and the Trace page show what each chosen expert writes."""
from __future__ import annotations

import pytest
import torch

from core.errors import InputError
from core.models.loading import load_model
from core.studies.expert_lens import expert_logit_lens
from core.tracing.tracer import Tracer
from helpers import build_tiny_decoder

TEXT = "The bank raised its interest rates again this spring."
PLANTED = 42  # the token the planted expert writes


def test_a_planted_expert_promotes_the_token_whose_direction_it_writes(tmp_path):
    loaded = load_model(str(build_tiny_decoder(tmp_path / "mixtral", "mixtral")), dtype="float32", lm_head=True)
    trace = Tracer(loaded, cache=None).trace(TEXT)[0].stacks["decoder"]
    token, layer = 3, int(trace.layers[0])
    planted, other = (int(e) for e in trace.selected[0, token])
    experts = loaded.model.model.layers[layer].mlp.experts
    head = loaded.model.get_output_embeddings().weight
    with torch.no_grad():
        half = experts.gate_up_proj.shape[1] // 2
        experts.gate_up_proj[planted, half:] = experts.gate_up_proj[planted, :half]  # gate = up: silu(x)·x ≥ 0
        head[PLANTED] *= 3  # a clear direction
        experts.down_proj[planted] = head[PLANTED][:, None].expand(-1, experts.down_proj.shape[-1])
    lens = expert_logit_lens(loaded, TEXT, token, layer, top=5)
    assert set(lens.expert) == {planted, other} and len(lens) == 10
    top = lens[(lens.expert == planted) & (lens["rank"] == 1)].iloc[0]
    assert top.token_id == PLANTED
    p = trace.token_probs[0, token]  # the weight is the model's own: Mixtral renormalises its top-2
    assert lens[lens.expert == planted].weight.iloc[0] == pytest.approx(p[planted] / (p[planted] + p[other]), rel=1e-5)
    assert lens[(lens.expert == other) & (lens["rank"] == 1)].token_id.iloc[0] != PLANTED
    with pytest.raises(InputError, match="out of range"):
        expert_logit_lens(loaded, TEXT, 999, layer)
    with pytest.raises(InputError, match="no sparse decoder block 9"):
        expert_logit_lens(loaded, TEXT, token, 9)


def test_the_switch_decoder_and_the_lens_method(tmp_path):
    """Switch: its decoder's experts read through the decoder's final norm and the tied head; the Lens method loads
    the model with its LM head and gives the same rows."""
    from core.lens import Lens

    loaded = load_model("demo-switch-8", dtype="float32", lm_head=True)
    block = int(loaded.adapter.routers(loaded.model)["decoder"][0][0])
    rows = expert_logit_lens(loaded, TEXT, 2, block)
    assert len(rows) == 5 and rows.expert.nunique() == 1 and rows.logit.is_monotonic_decreasing
    via_lens = Lens("demo-switch-8", dtype="float32").expert_lens(TEXT, token=2, layer=block)
    assert list(via_lens.token_id) == list(rows.token_id)
    with pytest.raises(InputError, match="decoder"):
        Lens("demo-switch-8", dtype="float32").expert_lens(TEXT, token=2, layer=block, stack="encoder")


@pytest.mark.app
def test_the_trace_page_shows_what_each_chosen_expert_writes(tmp_cache, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ROUTING_LENS_MODEL", "demo-mixtral-8")
    at = AppTest.from_file("../app.py", default_timeout=180)
    at.run()
    at.switch_page("app_pages/trace.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="lens-0-decoder-go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(t.value for t in at.table if "tokens its output promotes, strongest first" in t.value.columns)
    assert len(table) == 2  # top-2: one row per chosen expert
    assert all(len(cell.split(" · ")) == 5 for cell in table["tokens its output promotes, strongest first"])
