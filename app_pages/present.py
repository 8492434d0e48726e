"""Presenter mode: the paper's story one screen at a time — no sidebar, large type, keyboard ← → navigation."""
from __future__ import annotations

import streamlit as st

from core.errors import RoutingLensError
from core.lens import CITATION, Lens, Results, find_word, saved_results, wic_presets
from core.viz import compare_plots, plots
from core.viz.claims_plots import claims_matrix_figure
from core.viz.controls_report import controls_figure
from core.viz.deck import table2_figure, takeaway
from core.viz.report import figure_tag, polysemy_stacks
from ui.deployment import deployment
from ui.errors import show_error
from ui.model_cache import cached_trace, get_tracer
from ui.open_questions_view import open_questions_step
from ui.pair_reference import model_classics, model_reference
from ui.presenter import CLAIMS_HEIGHT, CSS, TITLES, CompareLink, deck, leave, legend_below, projector, zoom_to_mass
from ui.results_cache import load_results
from ui.safe_text import as_text
from ui.sidebar import allowed_default

st.markdown(CSS, unsafe_allow_html=True)  # static CSS only: hides the sidebar, enlarges type
steps = deck(st.query_params.get_all("compare"))
names = [name for name, _ in steps]
asked = st.query_params.get("step", "1")
index = min(max(int(asked) - 1, 0), len(steps) - 1) if asked.isdigit() else (
    names.index(asked) if asked in names else 0)


def go_to(i: int) -> None:
    st.query_params["step"] = str(i + 1)


nav = st.columns([1, 1, 6, 1])
nav[0].button("← Back", on_click=go_to, args=(max(index - 1, 0),), shortcut="Left", disabled=index == 0,
              key="present_back")
nav[1].button("Next →", on_click=go_to, args=(min(index + 1, len(steps) - 1),), shortcut="Right",
              disabled=index == len(steps) - 1, key="present_next", type="primary")
nav[2].caption(f"{index + 1} / {len(steps)} · {TITLES[names[index]]} · ← → keys · each step has its own address")
if nav[3].button("Exit", shortcut="Esc", key="present_exit"):
    leave()
    st.rerun()  # back to the pages (app.py chooses them before this page runs)
st.query_params["step"] = str(index + 1)


def result() -> Results | None:
    for folder in saved_results():
        try:
            return load_results(folder)
        except RoutingLensError:
            continue
    st.info("No results to show: run **Benchmarks** once (the bundled results are missing).")
    return None


def deck_floor(links: list[CompareLink]) -> float:
    """The lowest JSS any of the deck's Compare slides draws (each pair and control through the server's memo): one
    y axis for every slide, so a class compares them at a glance. Links that cannot be drawn are left out."""
    lowest = 1.0
    dep = deployment()
    for link in links:
        model = link.model if link.model and dep.allows(link.model) else allowed_default("context", dep)
        try:
            lens = Lens(get_tracer(model), memo=cached_trace)
            for other in filter(None, (link.sentence2, link.control)):
                spans = (find_word(link.sentence1, link.word)[0], find_word(other, link.word)[0])
                lowest = min([lowest] + [float(c.jss.min()) for c in lens.word_pair(link.sentence1, other,
                                                                                     spans).values()])
        except Exception:  # noqa: BLE001 - its own slide says what is wrong with it
            continue
    return lowest


def show_compare(link: CompareLink | None) -> None:
    """The pair (and its control) with Compare's verdict first, then the JSS per layer of each partner."""
    if link is None:
        preset = wic_presets()[0]
        link = CompareLink(preset.sentence1, preset.sentence2, preset.word, None, preset.control)
    dep = deployment()
    model = link.model if link.model and dep.allows(link.model) else allowed_default("context", dep)
    if not all(find_word(s, link.word) for s in (link.sentence1, link.sentence2)):  # said here, the word as text
        st.warning(f"“{as_text(link.word)}” does not occur in both sentences of this Compare link.")
        return
    control = link.control if link.control.strip() and find_word(link.control, link.word) else ""
    try:  # the first occurrence in each sentence, through the server's shared model, traces and references
        lens = Lens(get_tracer(model), memo=cached_trace, references=lambda m: model_reference(m)[0],
                    classic=model_classics)
        pair = lens.compare(link.sentence1, link.sentence2, link.word, control=control or None)
    except Exception as err:  # noqa: BLE001 - never a traceback on a projector (a word missing: said in words)
        show_error(err)
        return
    word = as_text(link.word)  # the deck's sentences come from an address: shown as text, the word in bold
    lines = [f"1. {as_text(link.sentence1).replace(word, f'**{word}**')}",
             f"2. {as_text(link.sentence2).replace(word, f'**{word}**')}"]
    if control:
        lines.append(f"3. {as_text(control).replace(word, f'**{word}**')} *(same meaning as 1)*")
    st.markdown("\n".join(lines))
    if headline := pair.headline().replace(f"*{link.word}*", f"*{word}*"):
        st.success(headline)
    curves = {(f"{s} · 1 ⇄ 2" if control else s): (c.layers, c.jss) for s, c in pair.stacks.items()}
    curves |= {f"{s} · 1 ⇄ 3 (same meaning)": (c.layers, c.jss) for s, c in (pair.control or {}).items()}
    fig = compare_plots.jss_by_layer(curves, references={"identical routing: 1.0": 1.0})
    links = [c for _, c in steps if c is not None]
    if len(links) > 1:  # a deck of several pairs: every slide on the same y axis
        fig.update_yaxes(range=[max(0.0, deck_floor(links) - 0.02), 1.005])
    st.plotly_chart(projector(fig, height=300 if control else 340), width="stretch", key="present-compare")
    st.caption(f"{model} · JSS: 1 = routed identically")


def show(name: str, link: CompareLink | None) -> None:
    st.title(TITLES[name])
    if name == "question":
        st.markdown("## Does a sparsely-gated model route the same word differently in different contexts?")
        st.markdown("- Trace every token's router probabilities at every sparse layer.\n"
                    "- Compare a word's routing in two contexts with the Jensen–Shannon similarity (JSS).\n"
                    "- Ask: do words with the **same meaning** route more alike than words with **different** ones?")
        st.caption(CITATION)
        return
    if name == "compare":
        show_compare(link)
        return
    if name == "open":
        open_questions_step()
        return
    res = result()
    if res is None:
        return
    models = list(dict.fromkeys(res.cohens_d.model))
    preferred = allowed_default("context", deployment())
    scope = preferred if preferred in models else next((m for m in models if m in set(res.models.model)), "pooled")
    line = takeaway(name, res, scope)
    if line:
        st.markdown(f"**{line}**")
    tag = figure_tag(res, scope)
    figures = {"fig1": lambda: zoom_to_mass(plots.kde_figure(res.wic_kde, scope, tag)),
               "fig2": lambda: plots.cohens_d_figure(res.cohens_d, scope, tag),
               "table2": lambda: table2_figure(res.table2),
               "claims": lambda: claims_matrix_figure(res.claims, height=CLAIMS_HEIGHT) if len(res.claims) else None,
               "controls": lambda: controls_figure(res.controls) if len(res.controls) else None,
               "fig3": lambda: next((plots.polysemy_figure(res.polysemy, res.polysemy_trend, s, scope)
                                     for s in polysemy_stacks(res, scope)), None),
               "across": lambda: plots.comparison_figure(res.comparison)}
    fig = figures[name]()
    if fig is None:
        st.info("This result has nothing to show for this step.")
        return
    shown = projector(fig, height=CLAIMS_HEIGHT, fixed=True) if name == "claims" else projector(fig)
    st.plotly_chart(legend_below(shown) if name == "across" else shown, width="stretch", key=f"present-{name}")


show(*steps[index])
