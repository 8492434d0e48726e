"""report.html of `python -m core studies`: every study's figure and table, each under its definition."""
from __future__ import annotations

import html
import json

from core.corpus.field_studies import FieldStudies
from core.corpus.olmoe import ADJACENT, ALL_PAIRS, CHOSEN_SET, FIRST_CHOICE
from core.version import __version__
from core.viz import pathway_plots as pp
from core.viz import study_plots as sp

DEFINITIONS = {
    "saturation": "OLMoE (arXiv 2409.02060): per layer, the mean over tokens of |top-k(checkpoint) ∩ top-k(final)| / k "
                  "on the same text; top-1 agreement beside it.",
    "coactivation": f"OLMoE: P(b | a) = pairs(a, b) / count(a) at one layer. “{ALL_PAIRS}”: every ordered pair of the "
                    f"chosen set; “{ADJACENT}”: only pairs adjacent in the probability-ranked top-k, both ways.",
    "vocabulary": f"OLMoE: per token id seen ≥ 10 times, max_e N(x, e) / N(x), averaged over ids; “{FIRST_CHOICE}” "
                  f"counts the first choice (uniform 1/E), “{CHOSEN_SET}” the whole top-k (uniform k/E).",
    "domain": "OLMoE: a domain's share of assignments to each expert (uniform 1/E) or of its tokens whose top-k holds "
              "the expert (uniform k/E).",
    "consecutive": "Mixtral (arXiv 2401.04088) Table 5: consecutive tokens (i, i+1) with the same first choice "
                   "(chance 1/E) and with intersecting chosen sets (chance 1 − C(E−k,k)/C(E,k)).",
    "drops": "OpenMoE (arXiv 2402.01739): the share of dropped assignments by position; simulated capacity for "
             "dropless models = max(4, ⌊k × factor × T / E⌋ rounded up to even) per expert and T-token segment (the "
             "papers' code), first choices first, earlier positions first.",
    "context": "OpenMoE: the population standard deviation of an expert's routing share across token ids vs across "
               "position ids (ids seen ≥ 10 times), mean over all E experts.",
    "pathways": "Expert pathways (arXiv 2412.16971; Megatron's routing tools): per pair of consecutive sparse layers, "
                "the mean Jaccard of a token's two chosen sets (chance: two random k-of-E sets), and how well its "
                "first choice at L predicts the one at L+1 — the best mapping's accuracy (chance: always the most "
                "common) and the mutual information (its maximum: the next layer's entropy).",
    "flow": "Each token's first choice at one sparse layer and at the next, as a flow.",
    "balance": "Balance indices of each layer's load (NeMo AutoModel, MoEWatch): coefficient of variation "
               "(population SD / mean; 0 balanced), exp(entropy of the load shares) / E (1 balanced), max / mean, "
               "the share of experts with no assignment, and the busiest quarter's share against uniform.",
    "consistency": "Local routing consistency (arXiv 2505.16056), Routing Lens's fixed-segment variant: per "
                   "non-overlapping segment of m consecutive tokens, the share of its m·k assignments served by the best "
                   "fixed group of k experts (SRP) or by the best cache of C experts (SCH), averaged over segments; "
                   "segment lengths 4–64, caches k, 2k, 4k. The authors' own definitions are in the table below it.",
    "local_consistency": "SRP and SCH as the authors' code computes them: SRP over a segment starting at every "
                         "position — the best F1 of predicting an expert for the whole segment once t of its m tokens "
                         "chose it; SCH with a cache that ranks experts by their uses in the next m tokens, then by "
                         "recency (the first 20,000 tokens of each layer).",
    "margins": "Decision margins (Megatron-Core's router diagnostics): p_(k) − p_(k+1) of each token's full routing "
               "distribution; near-tie below 0.4/E, where a different choice may be a flip, not a response.",
    "early": "OpenMoE: JSS between a frequent token's routing distribution at each checkpoint and at the final model.",
}


def _fig(fig, first: bool) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=True if first else False)


def render(studies: FieldStudies) -> str:
    meta = studies.meta.iloc[0]
    stacks = list(dict.fromkeys(studies.vocabulary["stack"])) or ["decoder"]
    series = json.loads(meta.checkpoints)
    parts = [f"<h1>Routing studies: {html.escape(str(meta.model))}</h1>",
             f"<p>{int(meta.tokens):,} tokens of {html.escape(str(meta.source))}; {int(meta.experts)} experts, "
             f"top-{int(meta.top_k)}; checkpoints: {len(series) or 'none'}; capacity: {html.escape(meta.capacity)}. "
             f"Routing Lens {__version__}.</p>"]
    figures = []
    for stack in stacks:
        if series:
            figures += [("saturation", sp.saturation_curve(studies.saturation, stack)),
                        ("early", sp.early_learning_curve(studies.early, stack))]
        co = studies.coactivation[studies.coactivation["stack"] == stack]
        for layer in sorted(co.layer.unique())[:1]:
            figures += [("coactivation", sp.coactivation_heatmap(co, stack, int(layer), d)) for d in (ADJACENT, ALL_PAIRS)]
        figures += [("vocabulary", sp.vocabulary_bars(studies.vocabulary, stack, FIRST_CHOICE)),
                    ("drops", sp.drop_curve(studies.drops, stack)),
                    ("context", sp.context_bars(studies.context, stack))]
        if len(studies.transitions):
            figures.append(("flow", pp.flow_sankey(studies.transitions, stack)))
        if len(studies.consistency):
            figures.append(("consistency", pp.consistency_figure(studies.consistency, stack)))
        if len(studies.margins):
            figures.append(("margins", pp.margin_histogram(studies.margins, stack)))
    shown: set[str] = set()
    for i, (name, fig) in enumerate(figures):
        if name not in shown:
            parts.append(f"<h2>{name}</h2><p>{html.escape(DEFINITIONS[name])}</p>")
            shown.add(name)
        parts.append(_fig(fig, i == 0))
    parts.append(f"<h2>consecutive</h2><p>{html.escape(DEFINITIONS['consecutive'])}</p>")
    for stack in stacks:
        parts.append(f"<h3>{html.escape(stack)}</h3>" + sp.consecutive_table(studies.consecutive, stack).to_html(
            escape=True, float_format="%.1f"))
    parts.append(f"<h2>domain</h2><p>{html.escape(DEFINITIONS['domain'])}</p>")
    for stack in stacks:
        part = studies.domain[studies.domain["stack"] == stack]
        for layer in sorted(part.layer.unique())[:1]:
            parts.append(_fig(sp.domain_specialisation_heatmap(part, stack, int(layer), of_tokens=True), False))
    for name, table in (("pathways", pp.pathways_table), ("balance", pp.balance_table)):
        frame = getattr(studies, name)
        if len(frame):
            parts.append(f"<h2>{name}</h2><p>{html.escape(DEFINITIONS[name])}</p>")
            parts += [f"<h3>{html.escape(stack)}</h3>" + table(frame, stack).to_html(escape=True, index=False)
                      for stack in stacks]
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Routing studies</title></head><body>"
            + "\n".join(parts) + "</body></html>")
