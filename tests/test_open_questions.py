"""The paper's open questions: the negation and multi-word-expression sentence lists (deterministic, targets in
place, no router-training text), their measures on a real traced model, and the claims built from them."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data.wordnet import wordnet
from core.lens.open_questions import training_sentences
from core.results.bundled import open_questions_dir
from core.studies.probe_sentences import PREFIXES, mwe_items, negation_items, occurs
from core.studies.probes import MWE_CLAIM, NEGATION_CLAIM, mean_ci, probe_claims


@pytest.fixture(scope="module")
def built():
    wn, excluded = wordnet(), training_sentences()
    return negation_items(wn, 0, excluded=excluded), mwe_items(wn, 0, excluded=excluded), excluded


def test_the_committed_lists_are_what_the_seeded_builders_give(built):
    negation, mwe, _ = built
    pd.testing.assert_frame_equal(negation, pd.read_parquet(open_questions_dir() / "negation_items.parquet"))
    pd.testing.assert_frame_equal(mwe, pd.read_parquet(open_questions_dir() / "mwe_items.parquet"))
    other = negation_items(wordnet(), 1, n_pairs=80, excluded=built[2])
    assert not other.base.head(20).equals(negation.base.head(20))  # the seed decides the sample


def test_every_negation_item_has_its_words_in_place(built):
    negation = built[0]
    assert len(negation) >= 200
    for r in negation.itertuples():
        assert any(r.negated in (p + r.base, f"{p}-{r.base}") for p in PREFIXES)
        assert occurs(r.text_base, r.index, r.base) and occurs(r.text_negated, r.index, r.negated)
        assert occurs(r.text_control, r.index, r.control)
        assert r.control[:4] != r.base[:4]
        # the three sentences differ in the one slot only
        a, b = r.text_base.split(), r.text_negated.split()
        assert a[: r.index] == b[: r.index] and a[r.index + 1 :] == b[r.index + 1 :]


def test_every_expression_item_has_its_anchor_in_all_three_sentences(built):
    mwe = built[1]
    assert len(mwe) >= 300
    for r in mwe.itertuples():
        words = r.expression.split()
        assert words[0] == r.anchor
        inside = r.text_inside.split()
        assert [w.lower() for w in inside[r.index_inside : r.index_inside + len(words)]] == words
        for text, i in ((r.text_literal1, r.index_literal1), (r.text_literal2, r.index_literal2)):
            assert occurs(text, i, r.anchor)
            following = text.split()[i + 1 : i + 2]
            assert [w.lower() for w in following] != words[1:2]  # literal: not the expression
        assert r.text_literal1 != r.text_literal2


def test_no_router_training_sentence_is_a_context(built):
    negation, mwe, excluded = built
    brown = [*negation[negation.source == "brown"].text_base, *mwe.text_literal1, *mwe.text_literal2]
    assert brown and not set(brown) & excluded


def test_the_gap_ci_recovers_a_planted_shift_and_holds_zero_without_one():
    rng = np.random.default_rng(0)
    shifted = mean_ci(rng.normal(0.05, 0.1, 400))
    assert shifted[1] > 0 and abs(shifted[0] - 0.05) < 0.02
    null = mean_ci(rng.normal(0.0, 0.1, 400))
    assert null[1] < 0 < null[2]


def test_negation_and_mwe_on_a_real_model_give_layer_rows_and_claims(built):
    from core.models.loading import load_model
    from core.studies.probes import mwe_frame, negation_frame
    from core.tracing.tracer import Tracer

    tracer = Tracer(load_model("demo-switch-8", dtype="float32"), cache=None)
    negation, mwe = built[0].head(40), built[1].head(40)
    frame = pd.concat([negation_frame(tracer, negation), mwe_frame(tracer, mwe)], ignore_index=True)
    for study in ("negation", "mwe"):
        rows = frame[frame.study == study]
        assert set(rows["stack"]) == {"encoder", "decoder"}
        assert set(rows.layer_pos) == {-1, 0, 1}  # two sparse layers per stack, and the stack mean
        assert (rows.ci_low <= rows.gap).all() and (rows.gap <= rows.ci_high).all()
    claims = probe_claims(frame)
    assert set(claims.claim) == {NEGATION_CLAIM, MWE_CLAIM} and len(claims) == 4
    mean = frame[(frame.study == "mwe") & (frame.layer_pos == -1)].iloc[0]
    claim = claims[(claims.claim == MWE_CLAIM) & (claims["stack"] == mean["stack"])].iloc[0]
    expected = "supported" if mean.ci_high < 0 else "contradicted" if mean.ci_low > 0 else "inconclusive"
    assert claim.verdict == expected  # gap < 0 is the claimed direction


def test_the_open_question_tables_are_bundled():
    from core.results.bundled import BUNDLED_MODELS

    root = open_questions_dir()
    probes, claims = pd.read_parquet(root / "probes.parquet"), pd.read_parquet(root / "open_claims.parquet")
    assert set(probes.model) == set(BUNDLED_MODELS)
    assert {NEGATION_CLAIM, MWE_CLAIM} <= set(claims.claim)
    lab = pd.read_parquet(root / "lab_designs.parquet")
    assert len(lab) == 5 and lab.d.notna().all()


@pytest.mark.app
def test_benchmarks_shows_the_open_questions_beside_the_bundled_result(tmp_cache):
    """With no run of one's own, Benchmarks opens on the bundled result: the routing lab's tab, the open questions'
    tab, Figure 2 on ids alone, and a second claims matrix for the claims beyond the paper — titles stating findings."""
    import json

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../app.py", default_timeout=180)
    at.run()
    at.switch_page("app_pages/benchmarks.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    labels = [tab.label for tab in at.tabs]
    assert "Router designs" in labels and "Open questions" in labels
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"].replace("<br>", " ") for c in at.get("plotly_chart")]
    assert any(t.startswith("The router design changes the context response in") for t in titles)
    assert any(t.startswith("Frequency explains the context effect beyond polysemy in") for t in titles)
    assert any("negated forms route more like their base" in t for t in titles)
    assert any("inside a multi-word expression" in t for t in titles)
    assert any(t.startswith("IDs only: same-meaning pairs choose more alike experts") for t in titles)
    assert any("Beyond the paper" in s.value for s in at.subheader)


def test_reproduce_with_open_questions_saves_their_tables_and_claims(tiny_model_dir, tmp_path):
    """On any model: the probes and frequency tables are written with the result and read back, their claims among
    the result's claims."""
    from core.lens.compute import reproduce
    from core.models.loading import load_model
    from core.results.store import Results
    from core.studies.frequency import FREQUENCY_CLAIM
    from core.tracing.tracer import Tracer

    tracer = Tracer(load_model(str(tiny_model_dir), dtype="float32"), cache=None)
    reproduce([tracer], tmp_path / "r", limit=60, open_questions=True)
    res = Results.load(tmp_path / "r")
    assert set(res.probes.study) == {"negation", "mwe"} and len(res.frequency) == 2  # encoder and decoder
    assert {NEGATION_CLAIM, MWE_CLAIM, FREQUENCY_CLAIM} <= set(res.claims.claim)
    from core.lens.open_questions import paper_claims

    assert not set(paper_claims(res.claims).claim) & {NEGATION_CLAIM, MWE_CLAIM, FREQUENCY_CLAIM}
