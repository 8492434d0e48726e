"""Compare's verdict: the ordering with a control, the short classic pairs as the reference without one, and its
calibration on the bundled classic triplets through the default model (minilm-router-16, bundled and offline)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.lens import Lens
from core.studies.classic_reference import for_word, same_meaning_floor, wic_ordering
from core.studies.homonym_triplets import TRIPLETS
from core.studies.pair_verdict import OrderingVerdict, reference_verdicts
from core.studies.verdict_calibration import calibrate

DEFAULT = "minilm-router-16"


@pytest.fixture(scope="module")
def default_lens():
    return Lens(DEFAULT, dtype="float32", cache=False)


def _reference(same: list[float], different: list[float]) -> pd.DataFrame:
    rows = [{"word": f"w{i}", "label": "T", "stack": "encoder", "jss": v} for i, v in enumerate(same)]
    rows += [{"word": f"w{i}", "label": "F", "stack": "encoder", "jss": v} for i, v in enumerate(different)]
    return pd.DataFrame(rows)


def test_the_triplets_are_classic_short_and_not_wic():
    """At least 30, each word in all three sentences, and no sentence taken from WiC."""
    from core.data.datasets import load_wic
    from core.tracing.words import find_word

    assert len(TRIPLETS) >= 30 and len({t.word for t in TRIPLETS}) == len(TRIPLETS)
    for t in TRIPLETS:
        assert all(find_word(s, t.word) for s in (t.base, t.different, t.same)), t.word
        assert max(len(s.split()) for s in (t.base, t.different, t.same)) <= 10, t.word
    try:
        wic = load_wic()
    except Exception as err:  # noqa: BLE001
        pytest.fail(f"The WiC data is missing, so the triplets cannot be checked against it: {err}")
    wic_sentences = {s.strip().lower() for s in pd.concat([wic.sentence1, wic.sentence2])}
    assert not [s for t in TRIPLETS for s in (t.base, t.different, t.same) if s.strip().lower() in wic_sentences]


def test_levels_and_wording_against_a_planted_reference():
    """Shares of same-meaning pairs routed more alike decide the level; the word's own triplet is left out."""
    ref = _reference(same=[0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.91, 0.90],
                     different=[0.95] * 10)
    (changed,) = reference_verdicts(ref, {"encoder": 0.85}, "bank")
    assert changed.more_different_than_same == 1.0 and changed.level == "changed"
    assert "the context changed how it was routed" in changed.text("bank")
    (some,) = reference_verdicts(ref, {"encoder": 0.925}, "bank")
    assert some.more_different_than_same == pytest.approx(0.7) and some.level == "some sign"  # 7 of 10 above
    (none,) = reference_verdicts(ref, {"encoder": 0.995}, "bank")
    assert none.level == "no sign" and "more alike than every one of them" in none.text("bank")
    assert "0 in 10" not in none.text("bank")
    (left_out,) = reference_verdicts(ref, {"encoder": 0.85}, "W0")  # case-insensitive leave-one-out
    assert left_out.n_same == 9 and len(for_word(ref, "w0")) == 18
    assert same_meaning_floor(ref, "encoder") == pytest.approx(np.quantile(ref.jss[ref.label == "T"], 0.1))
    assert reference_verdicts(ref, {"decoder": 0.9}, "bank") == []  # no reference for the stack: no verdict


def test_the_ordering_reads_either_way_and_says_how_much_one_word_shows():
    holds = OrderingVerdict("encoder", 0.977, 0.990, (0.65, 0.62, 0.67, 630))
    assert holds.holds and holds.text("bank").startswith("*bank* was routed more differently when its meaning "
                                                         "changed (JSS 0.977) than when it kept its meaning (0.990)")
    assert "65% of the time (95% CI 62%–67%, 630 words" in holds.evidence() and "a hint" in holds.evidence()
    fails = OrderingVerdict("encoder", 0.995, 0.990, (0.52, 0.48, 0.56, 100))
    assert not fails.holds and "does not follow the meaning" in fails.text("bank")
    assert "no evidence on its own" in fails.evidence()
    assert "run Benchmarks" in OrderingVerdict("encoder", 0.9, 0.95).evidence()


def test_wic_ordering_is_the_mean_within_lemma_share_with_ties_half():
    wic = pd.DataFrame({"stack": "encoder", "lemma": ["a", "a", "a", "b", "b", "c", "d", "d"],
                        "label": ["T", "T", "F", "T", "F", "T", "T", "F"],
                        "jss": [0.9, 0.8, 0.7, 0.5, 0.6, 0.9, 0.4, 0.4]})
    share, low, high, n = wic_ordering(wic, "encoder")
    assert n == 3  # c has no different-meaning pair
    assert share == pytest.approx((1.0 + 0.0 + 0.5) / 3)  # a: both combinations ordered; b: none; d: a tie
    assert 0.0 <= low <= share <= high <= 1.0
    assert wic_ordering(wic, "decoder") is None


def test_calibration_on_the_classic_triplets_through_the_default_model(default_lens):
    """The done-when numbers: different-meaning partners are called changed far more often than same-meaning ones,
    and the control's ordering holds for most words (docs/dashboard.md holds the table)."""
    (cal,) = calibrate(default_lens.classic_reference())
    assert len(cal.rows) == len(TRIPLETS)
    ordering, low, _high, _n = cal.share("ordering_holds")
    assert ordering >= 0.8 and low > 0.5
    assert cal.called("different") >= 0.6 and cal.called("different") >= 3 * cal.called("same")
    assert cal.called("different", ("changed", "some sign")) >= 0.75
    assert cal.called("same", ("no sign",)) >= 0.6


def test_compare_gives_the_calibrations_verdict(default_lens):
    """Lens.compare on a triplet says what the calibration counted for it, in both modes."""
    (cal,) = calibrate(default_lens.classic_reference())
    for t in TRIPLETS[:3]:
        row = cal.rows.set_index("word").loc[t.word]
        pair = default_lens.compare(t.base, t.different, t.word, control=t.same)
        assert pair.ordering[0].holds == row.ordering_holds
        assert pair.mean_jss["encoder"] == pytest.approx(row.jss_different, abs=1e-6)
        assert pair.control_jss["encoder"] == pytest.approx(row.jss_same, abs=1e-6)
        assert pair.verdicts[0].level == row.level_different
        alone = default_lens.compare(t.base, t.same, t.word)
        assert alone.verdicts[0].level == row.level_same and not alone.ordering
        assert alone.headline() == alone.verdicts[0].text(t.word)
        assert "WiC" not in alone.headline()


def test_the_compare_command(capsys, monkeypatch):
    """`compare` prints the verdict, the JSS per layer and the reference; user errors come before any model loads."""
    from core.cli import main

    t = TRIPLETS[0]
    assert main(["compare", t.base, t.different, "--word", t.word, "--control", t.same]) == 0
    out = capsys.readouterr().out
    assert "when its meaning changed" in out and "reference: encoder" in out and "block 5" in out
    assert main(["compare", t.base, t.different, "--word", t.word, "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert said["verdict"] and said["reference"][0]["n_same"] == len(TRIPLETS) - 1
    assert len(said["layers"]) == 6 and said["mean_jss_control"] is None

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded for a user error")

    monkeypatch.setattr("core.models.loading.load_model", no_loading)
    for bad in ([t.base, "The cat slept.", "--word", t.word], [t.base, t.different, "--word", " "],
                [t.base, t.different, "--word", t.word, "--control", "Nothing here."]):
        assert main(["compare", *bad]) == 2
        assert capsys.readouterr().err.startswith("error:")


def test_intervene_refuses_experts_the_model_lacks_before_loading(capsys, monkeypatch):
    from core.cli import main

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded for a user error")

    monkeypatch.setattr("core.models.loading.load_model", no_loading)
    for model, flag, expect in (("demo-mixtral-8", "--force", "has 8 experts, numbered 0–7"),
                                ("minilm-router-16", "--ban", "has 16 experts"), (None, "--ban", "at most")):
        args = ["intervene", "--text", "hi there", flag, "99"] + (["--model", model] if model else [])
        assert main(args) == 2
        assert expect in capsys.readouterr().err
    assert main(["intervene", "--model", "demo-mixtral-8", "--text", "hi", "--ban", "-1"]) == 2
    assert "numbered from 0" in capsys.readouterr().err
    assert main(["reproduce", "--limit", "-5"]) == 2


def test_the_wic_ordering_is_held_per_reference_frame():
    """Computed once per frame while it lives (the app's references are held per process), and forgotten with it."""
    import gc

    from core.studies import classic_reference as cr

    wic = pd.DataFrame({"stack": "encoder", "lemma": ["a", "a", "b", "b"], "label": ["T", "F", "T", "F"],
                        "jss": [0.9, 0.8, 0.5, 0.6]})
    first = cr.wic_ordering_held(wic, "encoder")
    assert first == cr.wic_ordering(wic, "encoder")
    assert cr.wic_ordering_held(wic, "encoder") is first  # the same object: not computed again
    key = (id(wic), "encoder", 0)
    assert key in cr._ORDERINGS
    del wic
    gc.collect()
    assert key not in cr._ORDERINGS


def test_an_outcome_is_read_in_one_sentence():
    """Size words for the KL, whether the top prediction changed, and the notes a class needs: a teaching model's
    poor predictions and span-corruption sentinels."""
    from core.studies.outcomes import Outcome, reading

    def outcome(kl, before, after, loss=2.5):
        return Outcome(pd.DataFrame({"kl": kl, "loss_before": loss, "loss_after": loss, "top5_before": before,
                                     "top5_after": after}), ["intervened: forced to e3 at decoder block 1, token 4"])

    calm = reading(outcome([0.001, 0.002], ["a b", "c d"], ["a b", "c d"]))
    assert calm.startswith("This barely moved the predictions") and "did not change at any position" in calm
    assert "poorly" not in calm and "extra_id" not in calm
    moved = reading(outcome([0.5, 0.9], ["a b", "c d"], ["b a", "c d"], loss=12.0))  # mean 0.7
    assert "clearly" in moved and "changed at 1 of 2 positions" in moved and "predicts text poorly" in moved
    sentinel = reading(outcome([0.0, 0.0], ["<extra_id_97> a", "c"], ["<extra_id_97> a", "c"]))
    assert "did not move the predictions measurably" in sentinel and "blanks a span-corruption model" in sentinel
