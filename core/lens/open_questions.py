"""The paper's open questions, for the CLI and the pages: the routing lab's comparison of router designs, and the
bundled answers (core.studies.router_lab, core.studies.frequency, core.studies.probes)."""
from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from core.results.bundled import is_bundled, open_questions_dir
from core.results.store import Results
from core.studies.router_lab import headline as lab_headline  # noqa: F401 - the figure's title, for the pages
from core.studies.targets import ProgressFactory, no_progress

LAB_NOTE = ("The routing lab: all-MiniLM-L6-v2's feed-forward layers split into the same 16 experts, routed five ways, "
            "each router trained on the same NLTK text with the same seed (sigmoid + bias: DeepSeek-V3's balancing "
            "without an auxiliary loss; expert choice: each expert takes its top tokens of the text; hash: the token "
            "id decides, a context-free control; top-1 of 2: the same compute as top-8 of 16). WiC d is the layer "
            "mean's Cohen's d (same − different meaning) with its bootstrap 95% CI; 'd − softmax's' is the paired "
            "bootstrap difference of the mean per-layer d over the same pairs; 'form-matched' keeps the pairs whose "
            "target has the same tokens in both sentences (only context can separate them there). Grey diamonds: "
            "random routers on the same inputs; open circles: the router inputs' cosine. Cosine to dense: held-out sentence embeddings against the dense "
            "model's; load CV: the spread of the experts' loads (0 = balanced).")
PROBES_NOTE = ("Word frequency: per model and stack, the partial correlation of each WiC lemma's same − different "
               "meaning JSS with its Zipf frequency (senses held fixed), bootstrap 95% CI. Negation: the gap "
               "JSS(base, negated form) − JSS(base, a frequency-matched unrelated word), the three in one context. "
               "Multi-word expressions: JSS(word inside the expression, word in a literal context) − JSS(the word in "
               "two literal contexts). Gaps are layer means with bootstrap 95% CIs over items.")


def run_lab(tracers: Sequence, data_dir: str | None = None, limit: int | None = None, seed: int = 0,
            progress: ProgressFactory = no_progress, scratch: Path | None = None) -> dict:
    """Each design's WiC and SCWS analyses and controls (the hash design has no linear router: no random-router
    control), then the lab's three tables and its headline. `scratch`: where the per-pair frames are kept as soon
    as they exist (hours of work are never lost to a failure after them)."""
    from core.studies.controls import run_controls
    from core.studies.experiments import BenchmarkData, analyse_model
    from core.studies.router_lab import design_frame, form_matched, headline, lab_claims, layer_frame, same_tokens

    data = BenchmarkData.load(Path(data_dir) if data_dir else None, limit=limit, seed=seed)
    per_model = [analyse_model(t, data, progress) for t in tracers]
    wic_pairs = pd.concat([m["wic_pairs"] for m in per_model], ignore_index=True)
    table2 = pd.concat([m["table2"] for m in per_model], ignore_index=True)
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
        wic_pairs.to_parquet(scratch / "wic_pairs.parquet", index=False)
        table2.to_parquet(scratch / "table2.parquet", index=False)
    with_weight = [t for t in tracers if t.adapter.router_weight(t.routers["encoder"][0][1]) is not None]
    controls, _notes = run_controls(with_weight, data, progress, seed=seed)
    if scratch is not None:
        controls["controls"].to_parquet(scratch / "controls.parquet", index=False)
    records = {t.loaded.name: t.adapter.record for t in tracers}
    designs = design_frame(wic_pairs, table2, records)
    matched = same_tokens(data.wic, tracers[0].loaded.tokenizer)
    designs = designs.merge(form_matched(wic_pairs, matched, seed), on="model", how="left")
    return {"lab_designs": designs, "lab_layers": layer_frame(wic_pairs, controls["controls"]),
            "lab_claims": lab_claims(designs), "headline": headline(designs)}


def bundled_open_questions(folder: Path | None = None) -> dict[str, pd.DataFrame]:
    """Every bundled open-question table that exists (name → frame), read once per process while its files are
    unchanged (a Benchmarks render asks for them several times). The frames are shared: read, never modify."""
    root = folder or open_questions_dir()
    return dict(_tables(tuple((str(p), p.stat().st_mtime_ns) for p in sorted(root.glob("*.parquet")))))


@functools.lru_cache(maxsize=4)
def _tables(files: tuple[tuple[str, int], ...]) -> tuple[tuple[str, pd.DataFrame], ...]:
    return tuple((Path(p).stem, pd.read_parquet(p)) for p, _mtime in files)


def probe_items(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The negation and multi-word-expression items: the committed lists (seed 0), else built under `seed`."""
    root = open_questions_dir()
    if seed == 0 and (root / "negation_items.parquet").is_file() and (root / "mwe_items.parquet").is_file():
        return pd.read_parquet(root / "negation_items.parquet"), pd.read_parquet(root / "mwe_items.parquet")
    from core.data.wordnet import wordnet
    from core.studies.probe_sentences import mwe_items, negation_items

    wn, excluded = wordnet(), training_sentences()
    return negation_items(wn, seed, excluded=excluded), mwe_items(wn, seed, excluded=excluded)


def training_sentences() -> set[str]:
    """Every sentence the routers are trained or held out on (default settings): never a study context."""
    from core.training.router_training import RouterSettings, training_text

    train, held, _ = training_text(RouterSettings(experts=16, top_k=8))
    return set(train) | set(held)


def run_open_questions(tracers: Sequence, polysemy: pd.DataFrame, progress: ProgressFactory = no_progress,
                       seed: int = 0) -> dict[str, pd.DataFrame]:
    """Negation and multi-word expressions on every model, word frequency on the polysemy table, and their claims."""
    from core.studies.frequency import frequency_claims, frequency_effect
    from core.studies.probes import mwe_frame, negation_frame, probe_claims

    negation, mwe = probe_items(seed)
    frames = [f for t in tracers for f in (negation_frame(t, negation, progress), mwe_frame(t, mwe, progress))]
    probes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    frequency = frequency_effect(polysemy) if len(polysemy) else pd.DataFrame()
    claims = [c for c in (probe_claims(probes) if len(probes) else None,
                          frequency_claims(frequency) if len(frequency) else None) if c is not None and len(c)]
    return {"probes": probes, "frequency": frequency,
            "claims": pd.concat(claims, ignore_index=True) if claims else pd.DataFrame()}


def open_tables(res: Results, folder: Path) -> dict[str, pd.DataFrame]:
    """The open-question tables of a result: its own (reproduce --open-questions), else the bundled ones when it is the
    bundled result; the polysemy rows carry each lemma's Zipf frequency (Figure 3 coloured by frequency)."""
    from core.studies.frequency import with_frequency

    probes, frequency = res.probes, res.frequency
    if probes.empty and frequency.empty and is_bundled(folder):
        bundled = bundled_open_questions()
        probes, frequency = bundled.get("probes", pd.DataFrame()), bundled.get("frequency", pd.DataFrame())
    polysemy = with_frequency(res.polysemy) if len(frequency) and len(res.polysemy) else res.polysemy
    return {"probes": probes, "frequency": frequency, "polysemy": polysemy}


def open_claims(res: Results, folder: Path) -> pd.DataFrame:
    """The open questions' claim rows: the result's own, or the bundled ones (with the routing lab's) for the bundled
    result."""
    own = res.claims[res.claims.claim.isin(open_claim_names())] if len(res.claims) else pd.DataFrame()
    if len(own) or not is_bundled(folder):
        return own
    bundled = bundled_open_questions()
    parts = [bundled[n] for n in ("open_claims", "lab_claims", "ids_claims") if n in bundled and len(bundled[n])]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def open_claim_names() -> set[str]:
    """The claims beyond the paper's own: its open questions, and its WiC claim judged on expert ids alone."""
    from core.studies.frequency import FREQUENCY_CLAIM
    from core.studies.id_overlap import ID_CLAIM
    from core.studies.probes import MWE_CLAIM, NEGATION_CLAIM
    from core.studies.router_lab import LAB_CLAIM

    return {FREQUENCY_CLAIM, MWE_CLAIM, NEGATION_CLAIM, LAB_CLAIM, ID_CLAIM}


def paper_claims(claims: pd.DataFrame) -> pd.DataFrame:
    """The claims without the open questions' rows (the paper's claims, and the controls')."""
    return claims[~claims.claim.isin(open_claim_names())] if len(claims) else claims


def ids_only(folder: Path) -> pd.DataFrame:
    """The WiC analysis on expert ids alone for the bundled models (shown beside the bundled result only)."""
    if not is_bundled(folder):
        return pd.DataFrame()
    return bundled_open_questions().get("ids_only", pd.DataFrame())
