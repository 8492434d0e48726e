"""The paper's claims and the sensitivity table: planted signals support the claims, shuffled ones do not, a choice
that destroys a signal is named as the one that flips it, and `reproduce --sensitivity` runs end to end."""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest

from core.studies.claims import CLAIMS, claims_frame
from core.studies.experiments import BenchmarkData, run
from core.studies.sensitivity import claims_with_survival, run_variants, sensitivity_table
from fakes import FakeTracer, sense_count, write_synthetic_data

WORDSIM, _, CONTEXT, EVERY_LAYER = (c.name for c in CLAIMS[:4])


class ContextTracer(FakeTracer):
    """A word traced alone routes with heavy noise; in a sentence it follows its planted weight: a context gain."""

    def without_capacity(self):
        return self

    def _dist(self, text, word):
        clean = super()._dist(text, word)
        if text == word and word in self.alpha:
            noise = np.random.default_rng(zlib.crc32(word.encode())).dirichlet(np.ones(len(clean)))
            return 0.6 * clean + 0.4 * noise
        return clean


def _verdict(claims: pd.DataFrame, claim: str, stack: str = "encoder") -> pd.Series:
    hit = claims[(claims.claim == claim) & (claims["stack"] == stack) & (claims.model == "fake")]
    assert len(hit) == 1, claims[["claim", "model", "stack"]]
    return hit.iloc[0]


def test_claims_are_supported_by_planted_signals_and_not_by_shuffled_ones(tmp_path):
    alpha = write_synthetic_data(tmp_path)
    data = BenchmarkData.load(tmp_path)
    planted = claims_frame(run([ContextTracer(alpha, sense_planted=True)], data, sense_count))
    for claim in (WORDSIM, CONTEXT, EVERY_LAYER):
        row = _verdict(planted, claim)
        assert row.verdict == "supported", row.evidence
    gain = _verdict(planted, CONTEXT)
    assert gain.value > 0.1 and gain.ci_low > 0 and gain.p < 0.01

    keys = list(alpha)
    values = np.random.default_rng(1).permutation([alpha[k] for k in keys])
    shuffled = claims_frame(run([FakeTracer(dict(zip(keys, values)), sense_planted=False)], data, sense_count))
    for claim in (WORDSIM, CONTEXT, EVERY_LAYER):
        assert _verdict(shuffled, claim).verdict != "supported"


def test_sensitivity_names_the_choice_that_destroys_a_signal(tmp_path):
    alpha = write_synthetic_data(tmp_path)
    data = BenchmarkData.load(tmp_path)
    tracer = ContextTracer(alpha, sense_planted=True)
    baseline = run([tracer], data, sense_count)
    keys = list(alpha)
    shuffled = dict(zip(keys, np.random.default_rng(2).permutation([alpha[k] for k in keys])))

    def retrace(t, dtype):  # a "precision" whose routing has lost the planted association
        other = ContextTracer(shuffled, sense_planted=True)
        other.loaded.dtype = dtype
        return other

    variants, notes = run_variants([tracer], data, sense_count, baseline, retrace=retrace)
    labels = [v.label for v in variants]
    assert labels == ["precision: bfloat16", "decoder reading: label", "JSS: 1 − JS distance",
                      "senses: all parts of speech", "distribution: the chosen weights"]
    # one model without an expert capacity: both said, not skipped silently (the tiny-model run below has capacity)
    assert any("aggregation" in n.text for n in notes) and any("capacity" in n.text for n in notes)

    table = sensitivity_table(baseline, variants)
    assert set(labels) <= set(table.columns)
    t1 = table[(table.number == "Table 1 ρ · WordSim353 association") & (table["stack"] == "encoder")].iloc[0]
    assert t1.value > 0.6 and abs(t1["precision: bfloat16"]) < 0.3
    assert t1["largest swing"] == abs(t1.value - t1["precision: bfloat16"]) and t1.under == "precision: bfloat16"
    assert "precision: bfloat16" in t1["flips under"] and "JSS" not in t1["flips under"]
    # the JSS measure keeps the planted association
    assert t1["JSS: 1 − JS distance"] > 0.6
    trend = table[table.number == "polysemy trend r"]
    assert len(trend) == 2 and trend["senses: all parts of speech"].notna().all()

    claims = claims_with_survival(baseline, variants)
    row = _verdict(claims, WORDSIM)
    assert row.verdict == "supported" and not row.survives and "precision: bfloat16" in row.changed_by
    layers = _verdict(claims, EVERY_LAYER)  # the WiC senses are planted in both "precisions": it survives
    assert layers.verdict == "supported" and layers.survives


def test_aggregation_alternative_uses_the_pooled_pairs_d(tmp_path):
    alpha = write_synthetic_data(tmp_path)
    data = BenchmarkData.load(tmp_path)
    a, b = ContextTracer(alpha, sense_planted=True), ContextTracer(alpha, sense_planted=False)
    b.loaded.name, b.loaded.num_experts = "fake-16", 16
    baseline = run([a, b], data, sense_count)
    variants, _ = run_variants([a, b], data, sense_count, baseline)
    agg = next(v for v in variants if v.choice == "aggregation")
    table = sensitivity_table(baseline, [agg])
    across = table[(table.model == "across models") & (table.number == "WiC Cohen's d")]
    assert len(across) == 4  # 2 stacks × 2 layers
    pooled = baseline.cohens_d[baseline.cohens_d.model == "pooled"].set_index(["stack", "layer"]).d
    means = baseline.cohens_d[baseline.cohens_d.model == "mean of models"].set_index(["stack", "layer"]).d
    for r in across.itertuples():
        assert r.value == means[(r.stack, int(r.layer))]
    assert np.allclose(across["aggregation: pooled pairs"].to_numpy(),
                       [pooled[(s, int(layer))] for s, layer in zip(across["stack"], across.layer)])


@pytest.mark.slow
def test_reproduce_sensitivity_end_to_end_on_tiny_model(tiny_model_dir, tmp_path, tmp_cache):
    from core.cli import main

    out = tmp_path / "out"
    assert main(["reproduce", "--model", str(tiny_model_dir), "--limit", "30", "--out", str(out), "--sensitivity"]) == 0
    table = pd.read_csv(out / "sensitivity.csv")
    for col in ("precision: bfloat16", "decoder reading: label", "JSS: 1 − JS distance",
                "senses: all parts of speech", "capacity: off", "distribution: the chosen weights", "largest swing",
                "CI half-width", "flips under"):
        assert col in table.columns, col
    assert set(table.number) >= {"Table 1 ρ · WordSim353 association", "Table 2 ρ · SCWS with context",
                                 "context gain Δρ (SCWS)", "WiC Cohen's d"}
    # the decoder reading moves decoder numbers only; encoder numbers are the same traces
    enc = table[table["stack"] == "encoder"]
    assert np.allclose(enc.value, enc["decoder reading: label"], equal_nan=True)
    claims = pd.read_csv(out / "claims.csv")
    assert {"claim", "verdict", "survives", "changed_by", "evidence"} <= set(claims.columns) and len(claims) >= 6
    assert claims[["ci_low", "ci_high"]].notna().all().all()  # every verdict judged on a CI
    html = (out / "report.html").read_text()
    assert "Sensitivity to the open choices" in html and "claims on this run" in html
    # without --sensitivity the claims are still judged, and no stale sensitivity.csv is left behind
    assert main(["reproduce", "--model", str(tiny_model_dir), "--limit", "30", "--out", str(out)]) == 0
    assert not (out / "sensitivity.csv").exists() and "survives" not in pd.read_csv(out / "claims.csv").columns

