"""REAP saliency (arXiv 2510.13999): how much an expert writes when it is chosen — the mean, over the tokens routed
to it, of its gate weight × the norm of its output. Measured on the ablation's own sample (the same windows), so it
can be set beside the causal Δloss and the observational domain lift (docs/definitions.md, *REAP saliency*).

The expert's output is the model's own: each expert is run, through the model's experts module, on the hidden states
that module was handed for the tokens it was dispatched (core.models.adapters: `dispatched`, `run_one_expert`).
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import torch

from core.errors import InputError
from core.measures.metrics import spearman
from core.models.loading import LoadedModel
from core.studies.ablation import BATCH, Examples, batch_losses
from core.tracing.self_check import experts_beside


def _lengths(ex: Examples, rows: list[int], width: int) -> list[int]:
    """Each window's real tokens in a stream of `width` positions: its input (encoder, decoder-only) or its targets
    (a teacher-forced decoder); right padding beyond."""
    inputs, targets = [len(ex.inputs[r]) for r in rows], [len(ex.targets[r]) for r in rows]
    return inputs if width == max(inputs) else targets if width == max(targets) else [width] * len(rows)


def reap(loaded: LoadedModel, ex: Examples) -> pd.DataFrame:
    """Per stack, layer and expert, over all windows and per domain: tokens routed to it and its REAP saliency."""
    adapter, model = loaded.adapter, loaded.model
    names = {id(m): n for n, m in model.named_modules()}
    modules = {(stack, int(block)): experts for stack, found in adapter.routers(model).items()
               for block, router in found if (experts := experts_beside(model, router, names)) is not None}
    if not modules:
        raise InputError(f"{loaded.name}: no experts module sits beside its routers, so REAP saliency (which runs "
                         "each expert on its tokens) cannot be measured.")
    sums: dict[tuple, float] = defaultdict(float)
    counts: dict[tuple, int] = defaultdict(int)
    for start in range(0, len(ex.inputs), BATCH):
        rows = list(range(start, min(start + BATCH, len(ex.inputs))))
        seen: dict[tuple, tuple] = {}
        handles = [m.register_forward_pre_hook(lambda _m, args, key=key, seen=seen: None if key in seen else
                                               seen.update({key: tuple(a.detach() if torch.is_tensor(a) else a
                                                                       for a in args)}))
                   for key, m in modules.items()]
        try:
            batch_losses(loaded, ex, rows)  # the intact model's pass over the batch
        finally:
            for h in handles:
                h.remove()
        for (stack, block), args in seen.items():
            index, weights, dropped = adapter.dispatched(args)
            hidden = args[0].reshape(-1, args[0].shape[-1])
            if hidden.shape[0] != index.shape[0]:
                raise InputError(f"{loaded.name}: its experts are not handed one row per token; REAP saliency is "
                                 "measured for families that are.")
            width = hidden.shape[0] // len(rows)
            lengths = _lengths(ex, rows, width)
            valid = torch.tensor([[p < n for p in range(width)] for n in lengths]).reshape(-1).to(index.device)
            domain = np.repeat([str(ex.domains[r]) for r in rows], width)
            keep = valid & ~dropped
            with torch.inference_mode():
                for e in index[keep].unique().tolist():
                    for j in range(index.shape[1]):
                        sel = keep & (index[:, j] == e)
                        if not bool(sel.any()):
                            continue
                        out = adapter.run_one_expert(modules[(stack, block)], hidden[sel], int(e)).float()
                        contrib = (weights[sel, j].float() * out.reshape(int(sel.sum()), -1).norm(dim=-1)).cpu().numpy()
                        where = sel.cpu().numpy()
                        for dom in ("all", *np.unique(domain[where])):
                            part = contrib if dom == "all" else contrib[domain[where] == dom]
                            key = (stack, block, int(e), "all" if dom == "all" else "domain", dom)
                            sums[key] += float(part.sum())
                            counts[key] += int(part.size)
    return pd.DataFrame([{"stack": k[0], "layer": k[1], "expert": k[2], "group_kind": k[3], "group": k[4],
                          "tokens": counts[k], "saliency": sums[k] / counts[k]} for k in sorted(sums)])


def saliency_links(saliency: pd.DataFrame, ablation: pd.DataFrame, domain_stats: pd.DataFrame | None = None,
                   load: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (stack, layer): Spearman ρ with its bootstrap CI between REAP saliency and the ablation's Δloss across the
    layer's experts (overall), and across (expert, domain) cells between saliency and Δloss, and saliency and the
    corpus statistics' domain lift (when statistics are given)."""
    from core.studies.ablation import lift_and_delta

    rows = []
    for (stack, layer), part in saliency.groupby(["stack", "layer"], sort=True):
        pairs = {}
        here = ablation[(ablation["stack"] == stack) & (ablation.layer == layer)]
        if here.empty:  # a layer the ablation did not cover (--stack/--layer)
            continue
        whole = part[part.group_kind == "all"].merge(here[here.group_kind == "all"], on="expert")
        pairs["REAP vs Δloss, experts"] = (whole.saliency, whole.delta)
        cells = part[part.group_kind == "domain"].merge(
            ablation[(ablation.group_kind == "domain") & (ablation["stack"] == stack) & (ablation.layer == layer)],
            on=["expert", "group"])
        pairs["REAP vs Δloss, (expert, domain) cells"] = (cells.saliency, cells.delta)
        if domain_stats is not None and load is not None:
            lift = lift_and_delta(ablation, domain_stats, load, stack, int(layer)).merge(
                part[part.group_kind == "domain"], left_on=["expert", "domain"], right_on=["expert", "group"])
            pairs["REAP vs domain lift, (expert, domain) cells"] = (lift.saliency, lift.lift)
        for what, (x, y) in pairs.items():
            corr = spearman(x, y)
            rows.append({"stack": stack, "layer": int(layer), "comparison": what, "n": corr.n, "rho": corr.rho,
                         "ci_low": corr.ci_low, "ci_high": corr.ci_high, "p": corr.p})
    return pd.DataFrame(rows)
