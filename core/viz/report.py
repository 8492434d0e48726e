"""A self-contained `report.html`: tables beside the published values and the three figures.

plotly.js is embedded once (no CDN), so the file opens offline.
"""
from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from core.models.adapters.switch_catalogue import paper_checkpoint
from core.results.store import Results
from core.studies.claims import claims_matrix
from core.studies.paper import CITATION, published
from core.version import __version__
from core.viz import plots
from core.viz.claims_plots import claims_matrix_figure
from core.viz.controls_report import CONTROLS_NOTE, controls_table
from core.viz.export import VectorFormat, figure_bytes, table_latex
from core.viz.run_summary import merged_notes
from core.viz.tables import NEAR_TIE_NOTE, SWAP_NOTE, near_tie_table, readable

CSS = """
body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.note{background:#fff6e0;padding:.6em 1em;border-left:4px solid #E69F00}
"""


def _with_rho_ci(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with ρ shown beside its CI ("ρ [95% CI]") and p written short."""
    out = frame.copy()
    out["ρ [95% CI]"] = [f"{r:.4f} [{lo:.3f}, {hi:.3f}]" for r, lo, hi in zip(out.rho, out.ci_low, out.ci_high)]
    out["p"] = out.p.map(lambda v: f"{v:.2g}")
    return out


def correlation_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Readable table: one row per model, stack and setting with ρ [CI], p, n, published ρ and the difference."""
    out = _with_rho_ci(frame)
    out["published ρ"] = out.published_rho.map(lambda v: "" if pd.isna(v) else f"{v:.4f}")
    out["difference"] = out.difference.map(lambda v: "" if pd.isna(v) else f"{v:+.4f}")
    return out[["model", "experts", "stack", "setting", "dataset", "ρ [95% CI]", "p", "n", "published ρ", "difference"]]


PAPER_REFERENCE_NOTE = ("The paper's values for its own checkpoints with the same expert count, for reference only: "
                        "these models share the expert count, not the checkpoint, so no difference is computed.")


CONTEXT_GAIN_NOTE = ("Paired bootstrap (1,000 resamples of the SCWS pairs, both correlations recomputed on each): "
                     "95% percentile CI and a two-sided p; beside it, Williams's t for two dependent correlations sharing the "
                     "ratings (df = n − 3; an approximation for Spearman ρ). The paper calls the gain significant; "
                     "here are the tests.")


DROPPED_NOTE = ("Share of token-layer slots over expert capacity (the token skipped its expert; its router "
                "probabilities still count), per set of traced texts, stack and sparse layer.")


def layer_rho_table(layer_rho: pd.DataFrame) -> pd.DataFrame:
    return _with_rho_ci(layer_rho)[["model", "table", "stack", "setting", "layer", "ρ [95% CI]", "p", "n"]]


def dropped_table(dropped: pd.DataFrame) -> pd.DataFrame:
    out = dropped.copy()
    out["dropped share"] = [f"{s:.2%} ({d:,} of {n:,})" for s, d, n in zip(out.share, out.dropped, out.tokens)]
    return out[["model", "texts", "stack", "layer", "dropped share"]]


def context_gain_table(gain: pd.DataFrame) -> pd.DataFrame:
    out = gain.copy()
    out["gain [95% CI]"] = [f"{g:+.4f} [{lo:+.3f}, {hi:+.3f}]" for g, lo, hi in zip(out.gain, out.ci_low, out.ci_high)]
    out["p"] = out.p.map(lambda v: f"{v:.2g}")
    out["ρ without → with"] = [f"{a:.4f} → {b:.4f}" for a, b in zip(out.rho_without, out.rho_with)]
    cols = ["model", "experts", "stack", "ρ without → with", "gain [95% CI]", "p", "n"]
    if "williams_t" in out:  # results saved before the analytic test existed have none
        out["Williams t (p)"] = [f"{t:+.2f} ({p:.2g})" for t, p in zip(out.williams_t, out.williams_p)]
        cols.insert(-1, "Williams t (p)")
    return out[cols]


CLAIMS_NOTE = ("Each of the paper's claims tested on this run, per model and stack, by one rule on its 95% CI: "
               "supported when the CI excludes no effect in the claimed direction, contradicted when it excludes it in "
               "the other, inconclusive otherwise. With --sensitivity, whether the verdict is the same under every "
               "alternative choice (precision, decoder reading, JSS measure, sense counting, expert capacity, "
               "aggregation). How each claim is tested: docs/definitions.md.")
SENSITIVITY_NOTE = ("Every headline number under each alternative choice, one at a time. 'largest swing' is the largest "
                    "change from the default, beside the default's CI half-width; 'flips under' names the choices "
                    "under which the number's sign or significance (p < 0.05, or a CI excluding 0) changes.")


def claims_table(claims: pd.DataFrame) -> pd.DataFrame:
    """The claims one row per cell with their evidence (the matrix's hover text, as a table)."""
    out = claims.copy()
    cols = ["claim", "paper", "model", "stack", "verdict", "evidence"]
    if "survives" in out:
        out["survives every choice"] = [("yes" if bool(ok) else f"no — changed by {by}")
                                        for ok, by in zip(out.survives, out.changed_by.fillna(""))]
        cols.append("survives every choice")
    return out[cols]


def sensitivity_display(table: pd.DataFrame) -> pd.DataFrame:
    """sensitivity.csv as read: the default value with its CI, each alternative's value, the swing and the flips."""
    fixed = {"number", "model", "stack", "layer", "value", "ci_low", "ci_high", "p", "n", "significant", "largest swing",
             "under", "CI half-width", "flips under"}
    out = pd.DataFrame({"number": table.number, "model": table.model, "stack": table["stack"],
                        "layer": table.layer.map(lambda v: "" if pd.isna(v) else str(int(v)))})
    out["default [95% CI]"] = [f"{v:+.3f}" + (f" [{lo:+.3f}, {hi:+.3f}]" if pd.notna(lo) else "")
                               for v, lo, hi in zip(table.value, table.ci_low, table.ci_high)]
    out["p"] = table.p.map(lambda v: "" if pd.isna(v) else f"{v:.2g}")
    for col in [c for c in table.columns if c not in fixed]:
        out[col] = table[col].map(lambda v: "" if pd.isna(v) else f"{v:+.3f}")
    out["largest swing (CI half-width)"] = [("" if pd.isna(w) else f"{w:.3f} ({h:.3f})" if pd.notna(h) else f"{w:.3f}")
                                            for w, h in zip(table["largest swing"], table["CI half-width"])]
    out["flips under"] = table["flips under"].fillna("")
    return out


def models_table(results: Results) -> pd.DataFrame:
    """models.csv as shown to a reader: without the columns that only steer figures and reference tables."""
    return results.models.drop(columns=["figure_tag", "paper_reference"], errors="ignore")


def polysemy_stacks(results: Results, scope: str) -> list[str]:
    """The stacks that have a Fig. 3 trend for `scope` (a pooled scope or a model)."""
    trend = results.polysemy_trend
    return [s for s in dict.fromkeys(results.polysemy["stack"]) if ((trend.model == scope) & (trend["stack"] == s)).any()]


def pooled_scopes(results: Results) -> list[str]:
    """"pooled", or one "pooled <family>" per family when a run mixed families (core.studies.experiments.scopes)."""
    return [m for m in dict.fromkeys(results.cohens_d.model) if str(m).startswith("pooled")] or ["pooled"]


def paper_reference(results: Results, table: str) -> pd.DataFrame:
    """The paper's published ρ for the expert counts of the run's models that are not the paper's checkpoints but of
    its family (say a Switch demo): a separate reference, never a difference column beside them."""
    models = results.models
    if "paper_reference" not in models:
        return pd.DataFrame()
    experts = sorted(set(models[models.paper_reference.astype(bool)].experts))
    pub = published()
    pub = pub[(pub.table == table) & pub.experts.isin(experts)]
    return pd.DataFrame({"paper": [f"{paper_checkpoint(e)} (published)" for e in pub.experts], "stack": pub["stack"],
                         "setting": pub.setting, "ρ": pub.published_rho.map(lambda v: f"{v:.4f}")})


def published_table(table: str) -> pd.DataFrame:
    """The paper's Table 1 or 2 as published: one row per checkpoint it came from (google/switch-base-E, and the
    average), one column per stack and setting."""
    pub = published()
    pub = pub[pub.table == table]
    pub = pub.assign(model=[paper_checkpoint(e) if e else "average (paper)" for e in pub.experts],
                     column=pub["stack"] + " · " + pub.setting)
    wide = pub.pivot(index="model", columns="column", values="published_rho")
    order = [paper_checkpoint(e) for e in sorted(set(pub.experts) - {0})] + ["average (paper)"]
    wide = wide.loc[order, list(dict.fromkeys(pub.column))].round(4)
    wide.index.name, wide.columns.name = "checkpoint (published)", None
    return wide


def figure_tag(results: Results, scope: str) -> str:
    """Appended to a scope's figure titles: its models' shared family tag (adapter copy, saved in models.csv). The
    precision is said once, in the page's caption (run_precision), not in every title."""
    models = results.models
    if scope.startswith("pooled "):
        models = models[models.family == scope.split(" ", 1)[1]]
    elif scope != "pooled" and scope in set(models.model):
        models = models[models.model == scope]
    tags = {"" if pd.isna(t) else str(t) for t in models.figure_tag} if "figure_tag" in models else {""}
    return tags.pop() if len(tags) == 1 else ""


def run_precision(results: Results) -> str:
    """The precision (or precisions) the run's routing was computed in: "float32", "float32, bfloat16"."""
    models = results.models
    return ", ".join(dict.fromkeys(map(str, models.dtype))) if "dtype" in models and len(models) else ""


def _table(frame: pd.DataFrame) -> str:
    """A table as the report shows it: the app's column labels and number formats (core.viz.tables)."""
    return readable(frame).to_html(index=False, escape=True)


def _fig_html(fig, first: bool) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=True if first else False)


def render(results: Results) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Routing Lens report</title><style>{CSS}</style>"
             "</head><body><h1>Routing Lens — reproduction report</h1>",
             f"<p>Routing Lens {__version__}.</p>",
             f"<p>Reproducing {html.escape(CITATION)}. Definitions: docs/definitions.md in Routing Lens (JSS = 1 − "
             "base-2 JSD; Spearman ρ with p, n and a bootstrap 95% CI).</p>"]
    parts.append("<h2>Models</h2>" + models_table(results).pipe(_table))
    for note in merged_notes(results):
        parts.append(f"<p class='note'>{html.escape(note.text)}</p>")
    for table, title in (("table1", "Table 1 — word similarity (words traced alone)"),
                         ("table2", "Table 2 — SCWS without and with context")):
        parts.append(f"<h2>{title}</h2>" + correlation_table(getattr(results, table)).pipe(_table))
        reference = paper_reference(results, table)
        if len(reference):
            parts.append(f"<p>{PAPER_REFERENCE_NOTE}</p>" + reference.pipe(_table))
    if len(results.claims):
        parts.append(f"<h2>The paper's claims on this run</h2><p>{CLAIMS_NOTE}</p>"
                     + _fig_html(claims_matrix_figure(results.claims), True)
                     + claims_matrix(results.claims).pipe(_table)
                     + "<h3>The evidence of each cell</h3>"
                     + claims_table(results.claims).pipe(_table))
    if len(results.controls):
        parts.append(f"<h2>Router or representation</h2><p>{CONTROLS_NOTE}</p>"
                     + controls_table(results.controls).pipe(_table)
                     + "<h3>SCWS: ρ of the router inputs' cosine and of random routers</h3>"
                     + results.controls_scws.pipe(_table))
    if len(results.sensitivity):
        parts.append(f"<h2>Sensitivity to the open choices</h2><p>{SENSITIVITY_NOTE}</p>"
                     + sensitivity_display(results.sensitivity).pipe(_table))
    if len(results.context_gain):
        parts.append("<h2>Context gain (Table 2): ρ with context − ρ without, same SCWS pairs</h2>"
                     f"<p>{CONTEXT_GAIN_NOTE}</p>"
                     + context_gain_table(results.context_gain).pipe(_table))
    if len(results.layer_rho):
        parts.append("<h2>Tables 1–2 per sparse layer</h2><p>Spearman ρ of each layer's JSS (the tables above use "
                     "the mean over a stack's layers).</p>"
                     + layer_rho_table(results.layer_rho).pipe(_table))
    if len(results.expert_trend):
        parts.append("<h2>Trend over expert counts</h2><p>Spearman ρ between a family's expert count and each "
                     "headline number (n = models in the fit).</p>"
                     + results.expert_trend.pipe(_table))
    if len(results.scws_footnote):
        parts.append("<h2>SCWS identical-word pairs (the paper's footnote 2)</h2>"
                     + results.scws_footnote.pipe(_table))
    if len(results.scws_different):
        parts.append("<h2>Table 2 on different-word SCWS pairs only</h2>"
                     + correlation_table(results.scws_different.assign(published_rho=float("nan"),
                                                                       difference=float("nan")))
                     .drop(columns=["published ρ", "difference"]).pipe(_table))
    if len(results.dropped):
        parts.append("<h2>Dropped tokens</h2>" f"<p>{DROPPED_NOTE}</p>"
                     + dropped_table(results.dropped).pipe(_table))
    comparison = results.comparison
    parts.append("<h2>Across models: the same metrics side by side</h2>"
                 + comparison.pipe(_table))
    parts.append("<h2>Figures</h2>")
    first = not len(results.claims)  # plotly.js is inlined once, with the first figure of the page
    parts += [_fig_html(f, first and i == 0) for i, f in enumerate(report_figures(results).values())]
    parts.append("<h2>Polysemy trend</h2>" + results.polysemy_trend.pipe(_table))
    if len(results.swap):
        parts.append(f"<h2>Does routing matter? The swap study</h2><p>{SWAP_NOTE}</p>" + results.swap.pipe(_table))
    ties = near_tie_table(results.cohens_d, pooled_scopes(results)[0])
    if len(ties):
        parts.append(f"<h2>Fig. 2 and near-ties</h2><p>{NEAR_TIE_NOTE}</p>" + ties.pipe(_table))
    parts.append("</body></html>")
    return "\n".join(parts)


def report_figures(results: Results) -> dict[str, go.Figure]:
    """Every figure of a result by file stem: the across-models view, then Figures 1–3 per scope."""
    figs = {"across-models": plots.comparison_figure(results.comparison)}
    for scope in pooled_scopes(results):
        tag, stem = figure_tag(results, scope), re.sub(r"[^A-Za-z0-9.=-]+", "_", scope).strip("_")
        figs[f"fig1-wic-kde-{stem}"] = plots.kde_figure(results.wic_kde, scope, tag)
        figs[f"fig2-cohens-d-{stem}"] = plots.cohens_d_figure(results.cohens_d, scope, tag)
        for stack in polysemy_stacks(results, scope):
            figs[f"fig3-polysemy-{stack}-{stem}"] = plots.polysemy_figure(results.polysemy, results.polysemy_trend,
                                                                          stack, scope)
    return figs


def write_figures(results: Results, out: Path, formats: Sequence[VectorFormat]) -> list[Path]:
    """Every report figure as each vector format under out/figures/ (kaleido; raises ExportUnavailable without a
    browser)."""
    written = []
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for stem, fig in report_figures(results).items():
        for fmt in formats:
            path = out / "figures" / f"{stem}.{fmt}"
            path.write_bytes(figure_bytes(fig, fmt))
            written.append(path)
    return written


def write_report(results: Results, out: Path) -> Path:
    """report.html, and the claims matrix as claims_matrix.csv and claims_matrix.tex (a LaTeX table)."""
    if len(results.claims):
        matrix = claims_matrix(results.claims)
        matrix.to_csv(out / "claims_matrix.csv", index=False)
        (out / "claims_matrix.tex").write_text(table_latex(matrix, "The paper's claims on this run"), encoding="utf-8")
    path = out / "report.html"
    path.write_text(render(results), encoding="utf-8")
    return path
