"""Word frequency beside polysemy: the partial correlations recover a planted effect of frequency (and of senses)
on synthetic words, find none where none was planted, and run on the bundled polysemy table."""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.studies.frequency import frequency_effect, partial_with_ci, zipf


def test_the_partial_correlations_recover_a_planted_effect_and_find_none_where_none_was_planted():
    rng = np.random.default_rng(0)
    n = 1500
    senses = np.log(rng.integers(1, 30, n).astype(float))
    freq = 0.5 * senses + rng.normal(0, 1, n)  # frequency and polysemy correlate, as in English
    planted = 0.4 * freq + rng.normal(0, 1, n)  # the effect depends on frequency, not on senses
    r, lo, hi = partial_with_ci(planted, freq, senses)
    assert lo > 0.2 and r > 0.3
    r_s, lo_s, hi_s = partial_with_ci(planted, senses, freq)
    assert lo_s < 0 < hi_s  # senses add nothing once frequency is known
    none = rng.normal(0, 1, n)
    r0, lo0, hi0 = partial_with_ci(none, freq, senses)
    assert lo0 < 0 < hi0 and abs(r0) < 0.1


def test_zipf_frequencies_are_offline_and_ordered():
    z = zipf(pd.Series(["the", "bank", "serendipity", "qwzxv"]))
    assert z[0] > z[1] > z[2] > z[3] == 0.0


def test_the_frequency_study_on_the_bundled_polysemy_table():
    from pathlib import Path

    table = Path(__file__).resolve().parents[1] / "results" / "bundled" / "polysemy.parquet"
    frame = frequency_effect(pd.read_parquet(table))
    assert len(frame) == frame.groupby(["model", "stack"]).ngroups and (frame.words > 100).all()
    assert ((frame.ci_low_frequency <= frame.r_frequency) & (frame.r_frequency <= frame.ci_high_frequency)).all()
    bundled = Path(__file__).resolve().parents[1] / "results" / "open_questions" / "frequency.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(bundled), frame, check_exact=False, rtol=1e-9)
