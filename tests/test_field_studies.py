"""The field's routing studies (OLMoE, Mixtral, OpenMoE) recover planted routing: runs written as real Parquet shards
with a manifest, so the studies read them exactly as they read a `corpus` run; then the checkpoint path end to end on
a tiny trained demo."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.corpus.field_studies import FieldStudies, compute
from core.corpus.mixtral import chance_intersect
from core.corpus.olmoe import ALL_PAIRS
from core.corpus.rows import schema
from core.corpus.run import CorpusSpec, write_manifest
from core.errors import DataError, InputError
from core.lens.field import run_studies
from helpers import experts_page

ROOT = Path(__file__).resolve().parent.parent


def planted_run(folder: Path, docs: list[dict], experts: int, top_k: int, causal: bool = True,
                fraction: float | None = None, label: str = "") -> Path:
    """A corpus run with planted rows: each doc is {"ids": [...], "experts": [[...], ...], optional "dropped",
    "domain", "predicted"}; one stack ("decoder"), one sparse layer (block 1)."""
    folder.mkdir(parents=True, exist_ok=True)
    predicted = any("predicted" in d for d in docs)
    cols: dict[str, list] = {name: [] for name in schema(top_k, predictions=predicted).names}
    for doc, d in enumerate(docs):
        n = len(d["ids"])
        for layer, chosen in d.get("by_layer", {1: d.get("experts")}).items():  # several sparse layers, or block 1
            cols["doc"] += [doc] * n
            cols["source"] += [f"d{doc}"] * n
            cols["domain"] += [d.get("domain", "news")] * n
            cols["position"] += list(range(n))
            cols["token_id"] += list(d["ids"])
            cols["token"] += [f"t{i}" for i in d["ids"]]
            cols["word"] += [f"t{i}" for i in d["ids"]]
            cols["stack"] += ["decoder"] * n
            cols["layer"] += [layer] * n
            cols["experts"] += [list(e) for e in chosen]
            cols["probs"] += [[1.0 / top_k] * top_k] * n
            cols["entropy"] += [1.0] * n
            cols["dropped"] += list(d.get("dropped", [None] * n))
            cols["margin"] += list(d.get("margin", [0.5] * n))
            if predicted:
                cols["predicted"] += list(d["predicted"])
    sch = schema(top_k, predictions=predicted)
    arrays = []
    for field in sch:
        if field.name in ("experts", "probs"):
            kind = pa.int16() if field.name == "experts" else pa.float16()
            flat = np.asarray(cols[field.name], dtype=np.float32 if field.name == "probs" else np.int16).reshape(-1)
            arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(flat, type=kind), top_k))
        elif isinstance(field.type, pa.DictionaryType):
            arrays.append(pa.array(cols[field.name], type=pa.string()).dictionary_encode().cast(field.type))
        else:
            arrays.append(pa.array(cols[field.name], type=field.type))
    pq.write_table(pa.Table.from_arrays(arrays, schema=sch), folder / "part-00000.parquet")
    spec = CorpusSpec(model="planted", revision="", dtype="float32", source="planted", stacks=("decoder",),
                      top_k=top_k, num_experts=experts, causal=causal, predictions=predicted, checkpoint=label,
                      fraction=fraction, done=[0], tokens={"0": sum(len(d["ids"]) for d in docs)})
    write_manifest(folder, spec)
    return folder


def _docs(rng: np.random.Generator, n_docs: int = 6, length: int = 30, experts: int = 8, k: int = 2) -> list[dict]:
    docs = []
    for _ in range(n_docs):
        ids = rng.integers(0, 12, size=length).tolist()
        chosen = [rng.choice(experts, size=k, replace=False).tolist() for _ in ids]
        docs.append({"ids": ids, "experts": chosen})
    return docs


def test_routing_that_never_changes_between_checkpoints_is_saturated(tmp_path):
    docs = _docs(np.random.default_rng(0))
    final = planted_run(tmp_path / "run", docs, 8, 2)
    for fraction in (0.1, 0.4):
        planted_run(final / "checkpoints" / f"at-{fraction}", docs, 8, 2, fraction=fraction, label=f"at-{fraction}")
    studies = compute(final)
    assert list(studies.saturation.checkpoint) == ["at-0.1", "at-0.4"]  # training order
    assert np.allclose(studies.saturation.saturation, 1.0) and np.allclose(studies.saturation.top1_agreement, 1.0)
    assert np.allclose(studies.early.jss, 1.0)  # every token routed as at the end


def test_saturation_counts_the_shared_part_of_the_chosen_sets(tmp_path):
    """Final sets {0, 1} everywhere; the checkpoint keeps expert 0 but swaps 1 for 2 on every token, and puts it
    second: half of each set is shared, and the first choice agrees nowhere."""
    ids = list(range(20))
    final = planted_run(tmp_path / "run", [{"ids": ids, "experts": [[0, 1]] * 20}], 4, 2)
    early = planted_run(tmp_path / "early", [{"ids": ids, "experts": [[2, 0]] * 20}], 4, 2, fraction=0.01)
    row = compute(final, checkpoints=[early]).saturation.iloc[0]
    assert row.saturation == pytest.approx(0.5) and row.top1_agreement == pytest.approx(0.0) and row.n == 20


def test_every_next_token_on_the_same_expert_gives_table_5_share_one(tmp_path):
    same = {"ids": list(range(40)), "experts": [[3, 5]] * 40, "domain": "same"}
    alternating = {"ids": list(range(40)), "experts": [[0, 1] if i % 2 else [2, 3] for i in range(40)],
                   "domain": "alternating"}
    table = compute(planted_run(tmp_path / "run", [same, alternating], 8, 2)).consecutive.set_index("domain")
    assert table.loc["same", "first_choice"] == 1.0 and table.loc["same", "any_choice"] == 1.0
    assert table.loc["alternating", "first_choice"] == 0.0 and table.loc["alternating", "any_choice"] == 0.0
    assert table.loc["all", "pairs"] == 78  # 39 pairs a document, none across documents
    assert table.loc["all", "chance_first"] == pytest.approx(1 / 8)
    assert table.loc["all", "chance_any"] == pytest.approx(13 / 28)
    assert chance_intersect(8, 2) == pytest.approx(13 / 28)


def test_the_models_own_drops_are_found_at_their_positions(tmp_path):
    n = 16
    dropped = [p in (12, 14, 15) for p in range(n)]
    docs = [{"ids": list(range(n)), "experts": [[p % 4] for p in range(n)], "dropped": dropped}] * 3
    drops = compute(planted_run(tmp_path / "run", docs, 4, 1, causal=False)).drops.set_index("position")
    assert drops.capacity.iloc[0] == "the model's own capacity"
    assert list(drops.index[drops.drop_ratio == 1.0]) == [12, 14, 15]
    assert (drops.drop_ratio[~drops.index.isin([12, 14, 15])] == 0).all() and (drops.assignments == 3).all()


@pytest.mark.parametrize("tokens, experts, top_k, factor, kept", [
    (40, 4, 2, 1.0, 20),  # k > factor: ⌊2 · 1 · 40 / 4⌋ = 20 per expert (the old rule, 10, dropped 75 %)
    (20, 4, 1, 1.0, 6),  # ⌊5⌋ rounded up to even: 6
    (8, 16, 1, 1.0, 4),  # a segment shorter than E / factor: the floor of 4 (the old rule dropped everything)
])
def test_a_simulated_capacity_drops_the_end_of_the_sequence_by_the_papers_rule(tmp_path, tokens, experts, top_k,
                                                                                factor, kept):
    """Every token chooses e0 first (and e1 second): each expert keeps its first `kept` assignments, first choices
    before second ones, so the first `kept` positions keep all their choices and the rest lose all (a hand count)."""
    from core.corpus.openmoe import capacity

    assert capacity(factor, top_k, tokens, experts) == kept
    docs = [{"ids": list(range(tokens)), "experts": [list(range(top_k))] * tokens}]
    drops = compute(planted_run(tmp_path / "run", docs, experts, top_k), capacity_factor=factor).drops
    drops = drops.set_index("position")
    assert "⌊k × 1 × T / E⌋" in drops.capacity.iloc[0]
    assert list(drops.drop_ratio) == [0] * kept + [1] * (tokens - kept)
    assert (drops.assignments == top_k).all()
    roomy = compute(planted_run(tmp_path / "roomy", docs, experts, top_k), capacity_factor=float(experts)).drops
    assert (roomy.drop_ratio == 0).all()  # capacity k · T: room for every assignment


def test_routing_by_token_id_shows_as_context_independent(tmp_path):
    rng = np.random.default_rng(3)
    docs = []
    for _ in range(20):
        ids = rng.integers(0, 4, size=20).tolist()
        docs.append({"ids": ids, "experts": [[i] for i in ids]})  # expert = token id, whatever the position
    context = compute(planted_run(tmp_path / "run", docs, 4, 1)).context.set_index("grouping")
    assert context.loc["token id", "std_share"] == pytest.approx(np.sqrt(3) / 4)  # one-hot shares over 4 ids
    assert context.loc["position id", "std_share"] < 0.15 < context.loc["token id", "std_share"]
    # Averaged over all E experts (8 here, 4 of them never used): a rare token (seen once, below the floor of 10)
    # routed to an otherwise unused expert leaves the figure exactly as it was.
    wide = compute(planted_run(tmp_path / "wide", docs, 8, 1)).context.set_index("grouping")
    rare = compute(planted_run(tmp_path / "rare", [*docs, {"ids": [7], "experts": [[7]]}], 8, 1)).context
    assert wide.loc["token id", "std_share"] == pytest.approx(np.sqrt(3) / 8)
    assert rare.set_index("grouping").loc["token id", "std_share"] == wide.loc["token id", "std_share"]


def test_a_series_must_be_one_model_over_one_text(tmp_path):
    docs = _docs(np.random.default_rng(1))
    final = planted_run(tmp_path / "run", docs, 8, 2)
    other = [dict(d, ids=[i + 1 for i in d["ids"]]) for d in docs]
    with pytest.raises(DataError, match="tokenises the text differently"):
        compute(final, checkpoints=[planted_run(tmp_path / "retok", other, 8, 2)])
    with pytest.raises(InputError, match="16 experts"):
        compute(final, checkpoints=[planted_run(tmp_path / "wide", docs, 16, 2)])
    with pytest.raises(InputError, match="not a corpus run"):
        compute(tmp_path / "nothing-here")
    with pytest.raises(InputError, match="capacity-factor"):
        compute(final, capacity_factor=0)


def test_studies_are_saved_with_a_report_and_load_back(tmp_path):
    final = planted_run(tmp_path / "run", _docs(np.random.default_rng(2)), 8, 2)
    studies, out = run_studies(final)
    assert out == final / "studies" and (out / "report.html").is_file()
    again = FieldStudies.load_from(out)
    assert again.consecutive.equals(studies.consecutive) and again.meta.model.iloc[0] == "planted"
    assert "Mixtral" in (out / "report.html").read_text(encoding="utf-8")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


def test_the_studies_command_reports_clear_errors(tmp_path):
    done = _cli("studies", str(tmp_path))
    assert done.returncode == 2 and "not a corpus run" in done.stderr and "Traceback" not in done.stderr
    done = _cli("studies", str(ROOT / "results" / "corpus" / "demo-switch-8-brown"))  # statistics, not rows
    assert done.returncode == 2 and "route the corpus first" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_demo_trained_with_checkpoints_runs_the_whole_series(tmp_path):
    """train-demo --save-at → corpus --checkpoints all → studies: saturation and early learning over the series."""
    model, run = tmp_path / "demo", tmp_path / "run"
    done = _cli("train-demo", "--experts", "4", "--tiny", "--steps", "10", "--save-at", "0.2,0.5", "--out", str(model))
    assert done.returncode == 0, done.stderr
    infos = [json.loads((model / "checkpoints" / f"at-{f:.3f}" / "checkpoint.json").read_text()) for f in (0.2, 0.5)]
    assert [i["step"] for i in infos] == [2, 5]
    assert json.loads((model / "training_stats.json").read_text())["checkpoints"] == infos
    done = _cli("corpus", "--model", str(model), "--checkpoints", "all", "--input", "nltk:brown", "--max-tokens", "600",
                "--out", str(run))
    assert done.returncode == 0, done.stderr
    done = _cli("studies", str(run))
    assert done.returncode == 0, done.stderr
    studies = FieldStudies.load_from(run / "studies")
    assert list(studies.saturation.drop_duplicates("checkpoint").fraction) == [0.2, 0.5]
    assert studies.saturation.n.min() > 0 and studies.saturation.saturation.between(0, 1).all()
    assert studies.early.jss.between(0, 1).all() and len(studies.early_tokens)


def test_the_python_api_runs_the_studies(tmp_path):
    from core.lens import Lens

    final = planted_run(tmp_path / "run", _docs(np.random.default_rng(4)), 8, 2)
    early = planted_run(tmp_path / "early", _docs(np.random.default_rng(4)), 8, 2, fraction=0.5, label="half")
    studies = Lens.studies(final, out=tmp_path / "out", checkpoints=[early])
    assert (tmp_path / "out" / "report.html").is_file() and list(studies.saturation.checkpoint.unique()) == ["half"]


def _titles(at) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"].replace("<br>", " ") for c in at.get("plotly_chart")]


@pytest.mark.app
def test_the_studies_view_draws_each_paper_on_a_users_series(tiny_model_dir, tmp_cache, monkeypatch):
    docs = _docs(np.random.default_rng(5), n_docs=10)
    run = planted_run(tmp_cache / "corpus" / "planted", docs, 8, 2)
    planted_run(run / "checkpoints" / "at-0.100", docs, 8, 2, fraction=0.1, label="at-0.100")
    run_studies(run)
    at = experts_page(tiny_model_dir, monkeypatch)
    assert at.selectbox(key="st_result").value == str(run / "studies")  # the user's studies first
    assert [t.label for t in at.tabs] == ["OLMoE", "Mixtral", "OpenMoE", "Pathways, balance, consistency"]
    titles = _titles(at)
    for expect in ("router saturation", "co-activation P(b | a), adjacent pairs (OLMoE's code)",
                   "vocabulary specialisation", "domain specialisation", "drops by position — simulated capacity",
                   "routing follows the token id", "early routing learning", "how close each routing decision was",
                   "local routing consistency"):
        assert any(expect in t for t in titles), expect
    assert any("CV of load (0 = balanced)" in t.value.columns for t in at.table)  # balance, one row per layer
    assert any("at least two sparse layers" in i.value for i in at.info)  # one sparse layer: no pathway to show
    table5 = next(t.value for t in at.table if "chance" in t.value.index)
    assert float(table5.loc["chance"].iloc[0]) == pytest.approx(12.5)  # 1/E for the first choice
    at.radio(key="st_co_def").set_value(ALL_PAIRS).run()
    assert not at.exception and any("co-activation P(b | a), all pairs" in t for t in _titles(at))
    captions = " ".join(c.value for c in at.caption)
    assert "1 − C(E−k,k)/C(E,k)" in captions  # Table 5's chance definition is spelled out
    assert "probability-ranked top-k" in captions  # the co-activation caption names OLMoE's code's choice


@pytest.mark.app
def test_the_studies_view_opens_on_the_bundled_results(tiny_model_dir, tmp_cache, monkeypatch):
    from core.lens.field import BUNDLED_STUDIES

    expected = {"demo-switch-8-brown", "demo-switch-8-series-brown", "demo-mixtral-8-brown"}
    missing = [n for n in sorted(expected) if not (BUNDLED_STUDIES / n / "meta.parquet").is_file()]
    if missing:
        pytest.fail(f"bundled studies missing: {missing}; regenerate them (docs/corpus.md, *Bundled*).")
    series = FieldStudies.load_from(BUNDLED_STUDIES / "demo-switch-8-series-brown")
    assert [c["fraction"] for c in json.loads(series.meta.checkpoints.iloc[0])] == [0.01, 0.1, 0.2, 0.4]
    assert series.saturation.n.min() > 100_000 and series.early.jss.between(0, 1).all()
    mixtral = FieldStudies.load_from(BUNDLED_STUDIES / "demo-mixtral-8-brown")
    assert set(mixtral.vocabulary.token_kind) == {"input", "next", "predicted"} and len(mixtral.coactivation)
    at = experts_page(tiny_model_dir, monkeypatch)
    assert at.selectbox(key="st_result").value == str(BUNDLED_STUDIES / "demo-switch-8-series-brown")  # series first
    titles = _titles(at)
    for expect in ("router saturation", "early routing learning", "drops by position — the model's own capacity"):
        assert any(expect in t for t in titles), expect
    at.selectbox(key="st_result").set_value(str(BUNDLED_STUDIES / "demo-mixtral-8-brown")).run()
    assert not at.exception and any("co-activation P(b | a)" in t for t in _titles(at))


def test_results_name_a_folder_model_without_its_path(tmp_path):
    from core.corpus.field_studies import model_label

    assert model_label(str(tmp_path / "models" / "my-demo")) == "my-demo"
    assert model_label("google/switch-base-8") == "google/switch-base-8" and model_label("demo-switch-8") == "demo-switch-8"


def test_a_run_begun_before_the_studies_fields_still_resumes(tmp_path):
    """A manifest written before `causal`/`predictions`/`checkpoint`/`fraction` existed resumes under a new spec."""
    from core.corpus.run import MANIFEST, resume_or_start

    run = planted_run(tmp_path / "run", _docs(np.random.default_rng(6)), 8, 2)
    raw = json.loads((run / MANIFEST).read_text())
    for name in ("causal", "predictions", "checkpoint", "fraction"):
        raw.pop(name)
    (run / MANIFEST).write_text(json.dumps(raw))
    spec = CorpusSpec(model="planted", revision="", dtype="float32", source="planted", stacks=("decoder",), top_k=2,
                      num_experts=8, causal=True)
    resumed = resume_or_start(run, spec)
    assert resumed.done == [0] and resumed.causal and json.loads((run / MANIFEST).read_text())["causal"]
    with pytest.raises(InputError, match="differs in top_k"):
        resume_or_start(run, CorpusSpec(model="planted", revision="", dtype="float32", source="planted",
                                        stacks=("decoder",), top_k=1, num_experts=8, causal=True))


def test_a_routing_that_copies_a_layer_into_the_next_has_jaccard_one_and_predictability_one(tmp_path):
    """Layer 3 repeats layer 1's chosen sets token by token: Jaccard 1, the best mapping predicts every token, and the
    mutual information equals the next layer's entropy; an independent layer 5 sits near chance."""
    rng = np.random.default_rng(0)
    docs = []
    for _ in range(40):
        ids = rng.integers(0, 50, size=25).tolist()
        first = [rng.choice(8, size=2, replace=False).tolist() for _ in ids]
        other = [rng.choice(8, size=2, replace=False).tolist() for _ in ids]
        docs.append({"ids": ids, "by_layer": {1: first, 3: first, 5: other}})
    studies = compute(planted_run(tmp_path / "run", docs, 8, 2))
    pairs = studies.pathways.set_index("layer")
    assert list(pairs.next_layer) == [3, 5]
    assert pairs.loc[1, "jaccard"] == 1.0 and pairs.loc[1, "accuracy"] == 1.0
    assert pairs.loc[1, "mi_bits"] == pytest.approx(pairs.loc[1, "max_mi_bits"])
    assert pairs.loc[3, "jaccard"] == pytest.approx(pairs.loc[3, "jaccard_chance"], abs=0.03)
    assert pairs.loc[3, "jaccard_chance"] == pytest.approx(12 / 28 * (1 / 3) + 1 / 28 * 1)  # 2 of 8 at random: 5/28
    assert pairs.loc[3, "accuracy"] < 0.3 and pairs.loc[3, "mi_bits"] < 0.1
    moves = studies.transitions[studies.transitions.layer == 1]
    assert (moves.expert == moves.next_expert).all() and moves.tokens.sum() == 40 * 25


def test_a_balanced_router_has_cv_zero_and_full_effective_share(tmp_path):
    """Every expert takes the same load: CV 0, exp(H)/E 1, max/mean 1, no dead expert, top-N share N/E; a router that
    sends everything to one expert is the opposite extreme."""
    docs = [{"ids": list(range(16)), "experts": [[i % 8] for i in range(16)]} for _ in range(5)]
    bal = compute(planted_run(tmp_path / "even", docs, 8, 1)).balance.iloc[0]
    assert bal.cv == 0 and bal.effective_share == pytest.approx(1.0) and bal.max_over_mean == 1
    assert bal.dead_share == 0 and bal.top_n_share == pytest.approx(bal.uniform_top_n) == pytest.approx(2 / 8)
    one = [{"ids": list(range(16)), "experts": [[3]] * 16}]
    bal = compute(planted_run(tmp_path / "one", one, 8, 1)).balance.iloc[0]
    assert bal.dead_share == 7 / 8 and bal.effective_share == pytest.approx(1 / 8) and bal.top_n_share == 1
    assert bal.cv == pytest.approx(np.sqrt(7))


def test_margins_are_zero_at_a_planted_tie_and_counted_per_layer(tmp_path):
    from core.measures.routing_stats import margins

    probs = np.array([[0.4, 0.4, 0.2], [0.7, 0.2, 0.1], [0.5, 0.25, 0.25]])
    assert list(margins(probs, 1)) == pytest.approx([0.0, 0.5, 0.25])
    assert list(margins(probs, 2)) == pytest.approx([0.2, 0.1, 0.0])  # top-2 boundary: a tie in the third row
    docs = [{"ids": list(range(10)), "experts": [[0]] * 10, "margin": [0.0] * 3 + [0.6] * 7}]
    m = compute(planted_run(tmp_path / "run", docs, 4, 1)).margins
    assert m.near_tie_share.iloc[0] == pytest.approx(0.3) and m.share.sum() == pytest.approx(1.0)
    assert m.set_index("bin_low").loc[0.0, "tokens"] == 3


def test_srp_and_sch_equal_a_hand_count(tmp_path):
    """E = 4, top-1, one segment of 8 tokens routed 0 0 0 1 | 2 2 3 3. Segments of 4: SRP = (3/4 + 2/4) / 2, SCH with a
    cache of 2 = 1; one segment of 8: SRP 3/8, SCH(2) 5/8, SCH(4) 1; segments of 16 do not fit."""
    docs = [{"ids": list(range(8)), "experts": [[e] for e in (0, 0, 0, 1, 2, 2, 3, 3)]}]
    c = compute(planted_run(tmp_path / "run", docs, 4, 1)).consistency.set_index(["segment_length", "cache"]).sch
    assert c.loc[(4, 1)] == pytest.approx(0.625) and c.loc[(4, 2)] == 1.0 and c.loc[(4, 4)] == 1.0
    assert c.loc[(8, 1)] == pytest.approx(3 / 8) and c.loc[(8, 2)] == pytest.approx(5 / 8) and c.loc[(8, 4)] == 1.0
    assert 16 not in c.index.get_level_values(0)


def test_srp_and_sch_by_the_authors_rules_on_a_planted_sequence(tmp_path):
    """Worked by hand on one sequence of single choices, experts 0 0 1 1 (E = 4, k = 1), m = 2:
    - SRP, sliding segments [0 0], [0 1], [1 1]: (segment, expert) counts 2, 1, 1, 2 and eight 0s; activations A = 6.
      t = 0: M 6, P 2·12 → F1 12/30; t = 1: M 6, P 2·4 → 12/14 = 0.857; t = 2: M 4, P 2·2 → 8/10. Best: 0.857 at t = 1
      (the fixed, non-overlapping segments [0 0], [1 1] give 1.0: the definitions differ).
    - SCH with a look-ahead of 2: token 0 is a first access (served at rank 0: nothing seen before), token 1 hits e0
      at rank 0, token 2 is e1's first access (rank 1: one expert seen before), token 3 hits e1 at rank 0 (its next
      uses outnumber e0's). Ranks 0, 0, 1, 0: C = 1 serves 3 of 4, C = 2 all."""
    from core.corpus.consistency import consistency
    from core.corpus.local_consistency import authors_consistency, sch_lookahead, srp_sliding

    seq = [np.array([[0], [0], [1], [1]])]
    srp, threshold = srp_sliding(seq, 4, 2)
    assert srp == pytest.approx(12 / 14) and threshold == 1
    assert sch_lookahead(seq, 4, 2, [1, 2]) == {1: pytest.approx(0.75), 2: pytest.approx(1.0)}
    run = planted_run(tmp_path / "run", [{"ids": [5, 6, 7, 8], "experts": [[0], [0], [1], [1]]}], 4, 1)
    from core.corpus.field_studies import token_view
    from core.corpus.shards_sql import connect

    con = connect(1.0)
    token_view(con, "final", run)
    frame = authors_consistency(con, "final", 4, lengths=(2,), multiples=(1, 2))
    fixed = consistency(con, "final", 4, lengths=(2,), multiples=(1,))
    con.close()
    got = frame.set_index(["measure", "cache"]).value
    assert got[("SRP", 1)] == pytest.approx(12 / 14) and got[("SCH", 1)] == pytest.approx(0.75)
    assert got[("SCH", 2)] == pytest.approx(1.0) and float(fixed.sch.iloc[0]) == pytest.approx(1.0)
