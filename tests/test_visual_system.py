"""The visual system: every table readable, one colour per expert across pages, one layer name, numbers formatted
once; the offline sidebar; the deck's data side. Pages run through AppTest on the bundled models and results (what
a visitor sees); the browser checks of layout live in test_browser."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.measures.aggregate import spearman_exact
from core.results.store import Note, Results
from core.viz.controls_report import controls_figure
from core.viz.deck import table2_figure, takeaway
from core.viz.run_summary import merged_notes, model_line
from core.viz.style import MUTED, NEUTRAL, PALETTE, expert_color, layer_name
from core.viz.tables import format_p, readable, snake_case_headers

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "results" / "bundled"
PAGES = ("app_pages/trace.py", "app_pages/learn.py", "app_pages/compare.py", "app_pages/benchmarks.py",
         "app_pages/experts.py")
EXPERT = re.compile(r"^e(\d+)$")


def test_numbers_are_formatted_once():
    assert [format_p(p) for p in (0.0, 3e-12, 2.1e-5, 0.0012, 0.03, 0.5, 1.0, float("nan"))] == [
        "< 1e-10", "< 1e-10", "2.1e-05", "0.0012", "0.03", "0.5", "1", "—"]
    frame = pd.DataFrame({"model": ["a", "b"], "rho": [0.25, np.nan], "ci_low": [0.2, np.nan], "ci_high": [0.3, np.nan],
                          "p": [1e-30, 0.04], "n": [1654873, 12], "is_demo": [True, False], "layer_from": [1, 3],
                          "published_rho": [np.nan, 0.1], "note": ["nan", "ok"]})
    shown = readable(frame)
    assert list(shown.columns) == ["model", "ρ [95% CI]", "p", "n", "demo", "from layer", "published ρ", "note"]
    assert shown.iloc[0].tolist() == ["a", "0.250 [0.200, 0.300]", "< 1e-10", "1,654,873", "yes", "1", "—", "—"]
    assert shown.iloc[1].tolist() == ["b", "—", "0.04", "12", "no", "3", "0.100", "ok"]
    assert not snake_case_headers(readable(pd.read_parquet(BUNDLED / "controls.parquet")).columns)


def test_one_colour_per_expert_whatever_the_expert_count():
    assert len(set(PALETTE)) == len(PALETTE) and NEUTRAL not in PALETTE and MUTED not in PALETTE
    assert [expert_color(i) for i in range(40)] == [expert_color(i) for i in range(40)]
    assert len({expert_color(i) for i in range(64)}) == 64  # distinct far beyond the palette
    assert layer_name(3) == "block 3" and layer_name(np.int64(5)) == "block 5"


def test_expert_count_trends_have_an_exact_p():
    """Three models in a perfect order: one ordering in three is as extreme (two-sided), never p = 0."""
    rho, p = spearman_exact([8, 16, 32], [0.1, 0.2, 0.3])
    assert rho == pytest.approx(1.0) and p == pytest.approx(1 / 3)
    trend = pd.read_parquet(BUNDLED / "expert_trend.parquet")
    assert (trend.p >= 1 / 3 - 1e-9).all()  # the bundled result carries the exact p


def test_notes_naming_several_models_become_one(tmp_path):
    res = Results.load(BUNDLED)
    merged = merged_notes(res)
    controls = [n.text for n in merged if n.text.startswith("Controls")]
    assert len(controls) == 1 and all(m in controls[0] for m in ("moefied-minilm-8", "moefied-minilm-32",
                                                                  "moefied-minilm-128"))
    assert len(merged) == len(res.notes) - 2
    res.notes = [Note("Controls leave out x-1: no router."), Note("Something else.", caveat=True)]
    assert [n.text for n in merged_notes(res)] == [n.text for n in res.notes]  # names no model: unchanged
    line = model_line(Results.load(BUNDLED).models.iloc[0])
    assert "demo-switch-8" in line and "8 experts" in line and "4.2M parameters" in line and "_" not in line


def test_deck_figures_state_what_the_numbers_show():
    res = Results.load(BUNDLED)
    fig = table2_figure(res.table2)
    rows = list(fig.data[0].y)
    pooled = [r for r in rows if "pooled" in r]
    assert pooled and all("mixes expert counts" in r for r in pooled) and rows[-len(pooled):] == pooled
    own = res.table2[res.table2.experts > 0].pivot_table(index=["model", "stack"], columns="setting", values="rho")
    up = int((own["with context"] > own["without context"]).sum())
    assert f"Context raises ρ for {up} of {len(own)}" in fig.layout.title.text
    assert str(up) in takeaway("table2", res, "demo-switch-8")
    controls = controls_figure(res.controls)
    mean = res.controls[res.controls.layer == -1]
    above = int((mean.d_routing_low > mean.d_random_high).sum())
    assert f"in {above} of {len(mean)}" in controls.layout.title.text
    assert [t.name for t in controls.data][-1] == "trained routing (95% CI)"


def _run(page: str) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=180)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, (page, [e.value for e in at.exception])
    return at


def _expert_colours(spec: dict) -> dict[str, set[str]]:
    """expert label → the colours a figure gives it: traces named e<i>, and bars whose x are experts."""
    seen: dict[str, set[str]] = {}
    for trace in spec.get("data", []):
        marker = trace.get("marker") or {}
        colour = marker.get("color")
        if EXPERT.match(str(trace.get("name", ""))) and isinstance(colour, str):
            seen.setdefault(trace["name"], set()).add(colour.upper())
        xs = trace.get("x")
        if trace.get("type") == "bar" and isinstance(xs, list) and isinstance(colour, list):
            for x, c in zip(xs, colour):
                if EXPERT.match(str(x)) and str(c).upper() not in (MUTED, NEUTRAL):
                    seen.setdefault(str(x), set()).add(str(c).upper())
    return seen


@pytest.mark.app
def test_every_page_speaks_one_visual_language(tmp_cache, monkeypatch):
    """Across all five pages on the bundled models and results: no table header in snake_case and no cell reading
    nan; every expert drawn in its one palette colour; no figure title carrying the precision."""
    monkeypatch.delenv("ROUTING_LENS_MODEL", raising=False)
    colours: dict[str, set[str]] = {}
    tables = 0
    for page in PAGES:
        at = _run(page)
        if page.endswith("benchmarks.py"):
            assert at.tabs[0].label == "Claims"
        for element in [*at.dataframe, *at.table]:
            frame = element.value
            frame = frame.data if hasattr(frame, "data") else frame  # a Styler
            headers = [*map(str, frame.columns), *(map(str, frame.index.names) if frame.index.name else [])]
            assert not snake_case_headers(headers), (page, headers)
            cells = frame.astype(str).to_numpy().ravel().tolist()
            assert not [c for c in cells if c.strip().lower() in ("nan", "none", "<na>")], (page, headers)
            tables += 1
        for chart in at.get("plotly_chart"):
            spec = json.loads(chart.proto.spec)
            title = str(spec.get("layout", {}).get("title", {}).get("text", ""))
            assert "float32" not in title, (page, title)
            for name, found in _expert_colours(spec).items():
                colours.setdefault(name, set()).update(found)
    assert tables >= 5
    assert len(colours) >= 8  # the experts drawn across the pages
    for name, found in colours.items():
        assert found == {expert_color(int(name[1:])).upper()}, (name, found)


@pytest.mark.app
def test_the_sidebar_offers_only_models_that_would_load(tiny_model_dir, tmp_cache, monkeypatch):
    """Offline, the google/ Switch checkpoints (not cached) are not offered as if they would load: they leave the
    picker and a caption says why; once the Hub answers they are back. The model in use is always shown."""
    import ui.sidebar

    app_env = tiny_model_dir
    monkeypatch.setenv("ROUTING_LENS_MODEL", str(tiny_model_dir))
    monkeypatch.setattr(ui.sidebar, "_hub_up", lambda: False)
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.run()
    options = at.sidebar.selectbox[0].options
    assert not [o for o in options if o.startswith("google/")]
    assert any("need the Hugging Face Hub" in c.value for c in at.sidebar.caption)
    assert any(str(app_env.name) in o or str(app_env) in o for o in options)  # the model in use
    at.switch_page("app_pages/benchmarks.py").run()  # the run form offers what the sidebar offers
    assert not [o for o in at.multiselect(key="bench_models").options if o.startswith("google/")]
    monkeypatch.setattr(ui.sidebar, "_hub_up", lambda: True)
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.run()
    assert [o for o in at.sidebar.selectbox[0].options if o.startswith("google/")]
    assert not any("need the Hugging Face Hub" in c.value for c in at.sidebar.caption)
