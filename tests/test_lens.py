"""The use-case layer (core.lens) on a tiny real model, and the quickstart notebook executed as a user runs it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from core.lens import Lens, newest_result
from core.models.loading import load_model
from core.results.run_info import RunInfo
from core.results.store import result_label
from core.studies.word_pair import compare_word
from core.tracing.tracer import Tracer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lens(tiny_model_dir):
    return Lens(Tracer(load_model(str(tiny_model_dir), dtype="float32"), cache=None))


def test_trace_and_compare_are_the_tracer_and_compare_word(lens):
    s1, s2 = "I sat on the river bank.", "The bank raised its rates, and the bank grew."
    (direct,) = lens.tracer.trace([s1], stacks=("encoder", "decoder"))
    (traced,) = lens.trace(s1)
    np.testing.assert_array_equal(traced.stacks["encoder"].token_probs, direct.stacks["encoder"].token_probs)
    pair = lens.compare(s1, s2, "bank", occurrences=(0, 1))
    t1, t2 = lens.trace([s1, s2])
    second = (s2.rindex("bank"), s2.rindex("bank") + 4)
    expected = compare_word(t1, (s1.index("bank"), s1.index("bank") + 4), t2, second)
    assert pair.spans[1] == second
    assert pair.mean_jss == pytest.approx({s: c.mean_jss for s, c in expected.items()})
    assert pair.yardsticks["the same sentence twice: 1.0"] == 1.0 and len(pair.yardsticks) == 3
    assert set(pair.strip.word) >= {"bank"}


def test_a_memo_serves_every_trace_and_the_reference_comes_from_the_source_given(lens):
    """The app's seams: with a memo the Lens traces nothing itself (each text asked once per stacks, reading and
    precision), and the WiC reference comes from the source passed in."""
    asked = []

    def memo(model, text, stacks, read, dtype):
        asked.append((text, stacks, read, dtype))
        return lens.tracer.trace([text], stacks=stacks, decoder_read=read)[0]

    reference = pd.DataFrame({"stack": ["encoder"] * 4, "label": ["T", "T", "F", "F"], "jss": [0.9, 0.8, 0.3, 0.2]})
    served = Lens(lens.tracer, memo=memo, references=lambda model: reference)
    pair = served.compare("I sat on the river bank.", "The bank raised its rates.", "bank")
    assert ("I sat on the river bank.", ("encoder", "decoder"), "input", None) in asked
    assert {a[0] for a in asked} >= {"I sat on the river bank.", "The bank raised its rates."}
    assert [p.stack for p in pair.placements] == ["encoder"]  # only the stack the reference holds
    direct = lens.compare("I sat on the river bank.", "The bank raised its rates.", "bank")
    assert pair.mean_jss == pytest.approx(direct.mean_jss) and pair.yardsticks == direct.yardsticks
    asked.clear()
    assert served.word_pair("a bank", "the bank", ((2, 6), (4, 8)), "float32")
    assert {a[3] for a in asked} == {"float32"}  # the re-check asks the memo for float32 traces


def test_beside_resolves_the_decoder_reading_through_the_adapter(lens):
    """A second model beside this one takes this one's reading when it offers it, else its own default; a Lens
    asked for a reading its model lacks is an error instead (a stricter rule for a model alone)."""
    labelled = Lens(lens.tracer, decoder_read="label")
    assert labelled.beside(lens.tracer).decoder_read == "label"  # a Switch model offers it
    causal = Tracer(load_model("demo-mixtral-8", dtype="float32"), cache=None)
    assert causal.adapter.decoder_reads == ("input",)
    assert labelled.beside(causal).decoder_read == "input"  # falls back
    with pytest.raises(InputError):
        Lens(causal, decoder_read="label")


def test_compare_says_what_is_wrong_with_the_word(lens):
    with pytest.raises(InputError, match="does not occur in sentence 2"):
        lens.compare("the bank", "a river", "bank")
    with pytest.raises(InputError, match="occurs 1 times in sentence 1"):
        lens.compare("the bank", "a bank", "bank", occurrences=(1, 0))


def test_a_decoder_reading_the_model_lacks_is_an_error(lens):
    with pytest.raises(InputError, match="reads its decoder routing only at"):
        Lens(lens.tracer, decoder_read="elsewhere")


def test_reproduce_writes_the_results_and_the_report(lens, tmp_path, tmp_cache):
    results = lens.reproduce(tmp_path / "out", limit=12)
    assert len(results.table1) and (tmp_path / "out" / "report.html").is_file()
    assert (tmp_path / "out" / "table1.csv").is_file()
    info = RunInfo.load(tmp_path / "out")  # the run as data: no code reads the notes' text
    assert info == results.run_info and info.limit == 12 and info.models == [lens.tracer.loaded.name]
    assert info.dtypes == ["float32"] and info.decoder_read == "input" and "torch" in info.versions
    assert "12 rows per dataset" in result_label(tmp_path / "out")
    assert newest_result("no-such-model") is None


def test_corpus_then_experts(lens, tmp_path):
    source = tmp_path / "corpus.txt"
    source.write_text("The bank raised its rates.\nI sat on the river bank.\n" * 20)
    spec = lens.corpus(str(source), tmp_path / "run", max_tokens=300)
    assert spec.done and sum(spec.tokens.values()) > 0
    stats = Lens.experts(tmp_path / "run")
    assert int(stats.meta.iloc[0].tokens) == sum(spec.tokens.values())
    assert (tmp_path / "run" / "stats").is_dir()
    with pytest.raises(InputError, match="not a corpus run"):
        Lens.experts(tmp_path)


@pytest.mark.slow
def test_the_quickstart_notebook_runs(tmp_path):
    """examples/quickstart.ipynb top to bottom in a fresh kernel, from the repository root, with figures."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) >= 3  # the trace grid, the JSS by layer, Figure 1
