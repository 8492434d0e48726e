"""The presenter deck's data side: Table 2 as a figure, and each step's one-line takeaway computed from the result
on screen (a title never claims what the numbers beside it do not show)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core.results.store import Results
from core.viz.style import NEUTRAL, STACK_COLORS, style


def _row_label(row: pd.Series) -> str:
    if int(row.get("experts", 1) or 0) == 0:  # an average over a family's models ("average over E = 8, 16 switch")
        counts = str(row["model"]).removeprefix("average over ").rsplit(" ", 1)[0]
        return f"{row.get('family', '')} {counts}, pooled (mixes expert counts) · {row['stack']}"
    return f"{row['model']} · {row['stack']}"


def table2_figure(table2: pd.DataFrame) -> go.Figure:
    """Table 2 as a dumbbell: per model · stack, SCWS ρ without context (grey) and with context (blue), each with its
    95% CI; pooled averages come last and say that they mix expert counts."""
    frame = table2.assign(row=[_row_label(r) for _, r in table2.iterrows()])
    order = list(dict.fromkeys(frame.sort_values("experts", key=lambda e: e.eq(0), kind="stable").row))
    fig = go.Figure()
    for setting, colour, symbol in (("without context", NEUTRAL, "circle-open"),
                                    ("with context", STACK_COLORS["encoder"], "circle")):
        part = frame[frame.setting == setting].set_index("row").reindex(order)
        fig.add_scatter(x=part.rho, y=order, mode="markers", name=setting,
                        marker=dict(color=colour, size=12, symbol=symbol, line=dict(width=2, color=colour)),
                        error_x=dict(type="data", symmetric=False, array=(part.ci_high - part.rho).to_numpy(),
                                     arrayminus=(part.rho - part.ci_low).to_numpy(), color=colour, thickness=1.5),
                        hovertemplate="%{y}<br>" + setting + ": ρ %{x:.3f}<extra></extra>")
    up = _context_gains(table2)
    fig.update_yaxes(autorange="reversed", type="category", tickmode="array", tickvals=order, ticktext=order)
    fig.update_xaxes(title="Spearman ρ with SCWS ratings (95% CI)")
    return style(fig, f"Context raises ρ for {up[0]} of {up[1]} models · stacks",
                 height=150 + 30 * len(order), subtitle="SCWS word pairs traced alone (open) and in their sentences "
                                                        "(filled); pooled rows average models of several expert counts")


def _context_gains(table2: pd.DataFrame) -> tuple[int, int]:
    """(model · stacks whose ρ with context exceeds ρ without, model · stacks), averages left out."""
    own = table2[table2.experts.astype(int) > 0]
    wide = own.pivot_table(index=["model", "stack"], columns="setting", values="rho")
    if not {"with context", "without context"} <= set(wide.columns):
        return 0, 0
    return int((wide["with context"] > wide["without context"]).sum()), len(wide)


def takeaway(step: str, res: Results, scope: str) -> str:
    """One line that states what the step's figure shows on this result ("" when the result cannot say)."""
    if step == "fig1" or step == "fig2":
        d = res.cohens_d[res.cohens_d.model == scope]
        if d.empty:
            return ""
        if step == "fig1":
            return (f"{scope}: same-meaning pairs route more alike (mean JSS {d.mean_T.mean():.3f}) than "
                    f"different-meaning ones ({d.mean_F.mean():.3f}).")
        above = int((d.ci_low > 0).sum())
        return f"{scope}: Cohen's d is above 0 (its whole 95% CI) at {above} of {len(d)} sparse layers."
    if step == "table2":
        up, n = _context_gains(res.table2)
        return f"With their sentences, {up} of {n} models · stacks agree better with human ratings." if n else ""
    if step == "fig3":
        t = res.polysemy_trend[res.polysemy_trend.model == scope]
        if t.empty:
            return ""
        r = t.iloc[0]
        trend = "no clear trend" if r.p >= 0.05 else "a weak trend"
        return f"{scope}, {r['stack']}: r = {r.r:.2f} over {int(r.n)} lemmas (p = {r.p:.2f}) — {trend} with polysemy."
    if step == "claims" and len(res.claims):
        counts = res.claims.verdict.value_counts()
        return (f"{counts.get('supported', 0)} of {len(res.claims)} cells support the paper, "
                f"{counts.get('contradicted', 0)} contradict it; the rest are inconclusive.")
    if step == "controls" and len(res.controls):
        mean = res.controls[res.controls.layer == -1]
        above = int((mean.d_routing_low > mean.d_random_high).sum())
        if above == len(mean):
            return "Trained routers separate meanings beyond random routers on the same inputs, in every model."
        return (f"Trained routers beat random ones on the same inputs in {above} of {len(mean)}; elsewhere random "
                "routers do as well: the signal is in the representation.")
    if step == "across" and len(res.comparison):
        return "The same numbers for every model side by side: encoder–decoder, decoder-only and MoE-fied."
    return ""


def open_answers(tables: dict[str, pd.DataFrame]) -> list[str]:
    """The three answers of the deck's last step, each computed from the bundled open-question tables ("" for one
    whose table is missing): router designs, word frequency, negation and multi-word expressions."""
    out = []
    designs = tables.get("lab_designs", pd.DataFrame())
    if len(designs) and "diff_low" in designs:
        changed = designs[(designs.diff_low > 0) | (designs.diff_high < 0)]
        best = designs.loc[designs.d.idxmax()]
        out.append(f"**Router designs:** on one representation, {len(changed)} of {len(designs) - 1} designs change "
                   f"the context response against softmax top-k; {best.design} responds most (WiC d {best.d:+.2f}).")
    freq = tables.get("frequency", pd.DataFrame())
    if len(freq):
        clear = int(((freq.ci_low_frequency > 0) | (freq.ci_high_frequency < 0)).sum())
        out.append(f"**Word frequency:** beyond the number of senses it explains the context effect in {clear} of "
                   f"{len(freq)} model · stacks (partial correlation's 95% CI away from 0).")
    probes = tables.get("probes", pd.DataFrame())
    if len(probes):
        mean = probes[probes.layer_pos == -1]
        neg = mean[(mean.study == "negation") & (mean.subset == "all pairs")]
        mwe = mean[mean.study == "mwe"]
        out.append(f"**Negation and multi-word expressions:** a negated form routes more like its base than a matched "
                   f"word in {int((neg.ci_low > 0).sum())} of {len(neg)} model · stacks; a word inside an expression "
                   f"routes apart from its literal use in {int((mwe.ci_high < 0).sum())} of {len(mwe)}.")
    return out
