"""A causal test: remove one expert at a time and measure how much the model's own training loss rises on a corpus
sample (`python -m core ablate`, docs/definitions.md "Expert ablation").

The intervention is the adapter's (`ModelAdapter.without_expert`, applied by a forward hook on one router): Switch —
the expert's tokens lose their dispatch, exactly what a capacity drop does; top-k families — the expert's logit is
masked and the top-k chosen again, weights renormalised. The loss is the family's objective (`adapter.objective`):
T5 span corruption for Switch (seeded, the same corruption for every ablation), next-token loss for decoder-only
models, and for a dense encoder made sparse afterwards (minilm-router-E) its agreement with the dense model: 1 − cosine
of each token's final hidden state to the dense model's. Δloss per domain and per token class, with percentile bootstrap
CIs over windows (64-token pieces of the segments, each one example).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.data.span_corruption import corrupt
from core.errors import InputError
from core.measures.metrics import spearman
from core.models.loading import LoadedModel
from core.studies.word_pair import STOPWORDS
from core.tracing.encoding import right_padded
from core.tracing.words import TOKEN_PREFIXES
from core.types import Stack

TOKEN_CLASSES = ("punctuation", "digits", "function word", "capitalised", "other")
BATCH = 64  # windows per forward pass (64 × 64 tokens)


@dataclass(frozen=True)
class Unit:
    """One expert of one router: what an ablation removes."""

    stack: Stack
    layer: int
    expert: int


def token_class(token: str) -> str:
    """The corpus statistics' token classes, for a target *piece*'s text (word-start marks stripped): classes are per
    sub-word piece, as the corpus statistics count them, so a piece of "took" that reads "to" is a function word."""
    word = token.lstrip(TOKEN_PREFIXES)
    if word and not re.search(r"\w", word):
        return "punctuation"
    if re.search(r"\d", word):
        return "digits"
    if word.lower() in STOPWORDS:
        return "function word"
    return "capitalised" if word[:1].isupper() else "other"


@dataclass
class Examples:
    """The sample, tokenised once: per segment its input and target ids (the loss is on the targets)."""

    inputs: list[list[int]]
    targets: list[list[int]]
    domains: np.ndarray
    classes: list[np.ndarray]  # per segment, the class index of each target token


WINDOW = 64  # tokens per example: the demo models' training length (longer inputs are out of their distribution)


READ_AHEAD = 200  # words read per target token wanted before the sample is drawn (Brown whole from 6,000 tokens)


def spread(segments: Sequence[Any] | Any, max_tokens: int, rng: np.random.Generator) -> list[Any]:
    """The segments in a seeded random order, so a sample that stops at `max_tokens` covers every domain of a corpus
    stored domain by domain (Brown is); at most READ_AHEAD × max_tokens words are read from a large source."""
    kept, words = [], 0
    for seg in segments:
        kept.append(seg)
        words += len(seg.text.split())
        if words >= READ_AHEAD * max_tokens:
            break
    return [kept[i] for i in rng.permutation(len(kept))]


def examples(loaded: LoadedModel, segments: Sequence[Any], max_tokens: int, seed: int = 0, window: int = WINDOW
             ) -> Examples:
    """Segments (anything with .text and .domain: core.corpus.sources.Segment) tokenised and cut into windows of
    `window` tokens, up to `max_tokens` target tokens: span-corrupted (one seeded rng) or for next tokens."""
    tok, objective = loaded.tokenizer, loaded.adapter.objective
    if objective is None:
        raise InputError(f"{loaded.name} has no trained router and no training objective to ablate against.")
    rng = np.random.default_rng(seed)
    sentinels = [tok.convert_tokens_to_ids(f"<extra_id_{k}>") for k in range(100)]
    inputs, targets, domains, classes, total = [], [], [], [], 0
    for seg in spread(segments, max_tokens, rng):
        all_ids = tok(seg.text, add_special_tokens=False)["input_ids"]
        for start in range(0, len(all_ids), window):  # each window one example (the unit of the bootstrap)
            ids = all_ids[start : start + window]
            if objective != "span corruption":  # a window cut to the budget's rest (its targets are its tokens)
                ids = ids[: max_tokens - total + (objective == "next token")]
            if len(ids) < 8:
                continue
            if objective == "span corruption":
                x, y = corrupt(ids, sentinels, tok.eos_token_id, rng)
            elif objective == "dense agreement":  # every token, inside the encoder's special tokens
                x, y = [tok.cls_token_id, *ids, tok.sep_token_id], ids
            else:  # next token: the loss is on every token after the first
                x, y = ids, ids[1:]
            if total + len(y) > max_tokens:  # `max_tokens` is a bound: a window that would cross it is left out
                break
            inputs.append(list(x))
            targets.append(list(y))
            domains.append(seg.domain)
            names = tok.convert_ids_to_tokens(y)
            classes.append(np.array([TOKEN_CLASSES.index(token_class(str(n))) for n in names]))
            total += len(y)
        if total >= max_tokens - 8:  # no window that fits the rest of the budget can be measured
            break
    if not inputs:
        raise InputError("The corpus gave no segment long enough to measure a loss on.")
    return Examples(inputs, targets, np.array(domains), classes)


def batch_losses(loaded: LoadedModel, ex: Examples, rows: list[int]) -> list[np.ndarray]:
    """Per-token cross-entropy of the targets of `rows`, one array per row."""
    model, pad = loaded.model, int(loaded.tokenizer.pad_token_id or 0)
    device = loaded.input_device
    ids, mask = right_padded([ex.inputs[r] for r in rows], pad)
    with torch.inference_mode():
        if loaded.adapter.objective == "span corruption":
            t_width = max(len(ex.targets[r]) for r in rows)
            labels = torch.full((len(rows), t_width), -100, dtype=torch.long)
            for i, r in enumerate(rows):
                labels[i, : len(ex.targets[r])] = torch.tensor(ex.targets[r])
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device)).logits
            gold = labels
        elif loaded.adapter.objective == "dense agreement":
            return _dense_agreement(loaded, ids.to(device), mask.to(device), [len(ex.targets[r]) for r in rows])
        else:
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False).logits[:, :-1]
            gold = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
        loss = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), gold.to(logits.device),
                                                 ignore_index=-100, reduction="none").cpu().numpy()
    return [loss[i, : len(ex.targets[r])] for i, r in enumerate(rows)]


def _dense_agreement(loaded: LoadedModel, ids: torch.Tensor, mask: torch.Tensor, lengths: list[int]
                     ) -> list[np.ndarray]:
    """Per token, 1 − cosine of the sparse model's final hidden state to the dense model's (every expert running):
    the objective of a model made sparse after training, whose own training loss (sentence similarity) is not
    per token. Target tokens sit after the leading special token."""
    model = loaded.model
    with loaded.adapter.dense_reference(model):
        dense = model(input_ids=ids, attention_mask=mask).last_hidden_state
    sparse = model(input_ids=ids, attention_mask=mask).last_hidden_state
    loss = (1 - torch.nn.functional.cosine_similarity(sparse.float(), dense.float(), dim=-1)).cpu().numpy()
    return [loss[i, 1 : 1 + n] for i, n in enumerate(lengths)]


REUSE_BUDGET = 1 << 30  # bytes of recorded block outputs the ablation may keep to reuse (else it recomputes)


def losses(loaded: LoadedModel, ex: Examples, unit: Unit | None = None, records: dict | None = None
           ) -> list[np.ndarray]:
    """Per-token losses of every window, with `unit`'s expert removed (None: the intact model). `records`: the intact
    pass records each batch's block outputs there (while they fit REUSE_BUDGET), and a pass with `unit` reuses the
    blocks below its layer instead of recomputing them (core.tracing.reuse)."""
    from core.tracing import reuse

    found = reuse.blocks(loaded.model, loaded.adapter.stacks) if records is not None else []
    handle = None
    if unit is not None:
        routers = dict(loaded.adapter.routers(loaded.model).get(unit.stack, []))
        if unit.layer not in routers:
            raise InputError(f"{loaded.name} has no sparse {unit.stack} layer {unit.layer} (sparse layers: "
                             f"{', '.join(map(str, routers))}).")
        if loaded.adapter.ablation_reroutes:  # the family's own rule: its router re-run with the expert banned
            from core.tracing.interventions import Intervention, rewrite

            ban = Intervention("ban", unit.stack, (unit.layer,), None, (unit.expert,))
            handle = routers[unit.layer].register_forward_hook(
                lambda m, args, kwargs, out: rewrite(loaded.adapter, m, (args, kwargs), out, ban, 1, 0),
                with_kwargs=True)
        else:
            handle = routers[unit.layer].register_forward_hook(
                lambda _m, _i, out: loaded.adapter.without_expert(out, unit.expert))
    try:
        out: list[np.ndarray] = []
        batch = 1 if loaded.adapter.one_text_per_forward else BATCH  # routing that depends on the batch: alone
        for start in range(0, len(ex.inputs), batch):
            rows = list(range(start, min(start + batch, len(ex.inputs))))
            if records is None:
                out += batch_losses(loaded, ex, rows)
            elif unit is None:  # the intact pass: record what later passes can reuse
                with reuse.recording(found) as record:
                    out += batch_losses(loaded, ex, rows)
                kept = sum(reuse.nbytes(v) for r in records.values() for v in r.values())
                if kept + sum(reuse.nbytes(v) for v in record.values()) <= REUSE_BUDGET:
                    records[start] = dict(record)
            else:
                below = reuse.reusable(found, unit.stack, unit.layer)
                with reuse.reusing(found, below, records.get(start, {})):
                    out += batch_losses(loaded, ex, rows)
        return out
    finally:
        if handle is not None:
            handle.remove()


def _mean_ci(values: np.ndarray, n_resamples: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Mean over windows with a percentile bootstrap CI (windows resampled)."""
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return (float(values.mean()) if len(values) else np.nan), np.nan, np.nan
    idx = np.random.default_rng(seed).integers(0, len(values), size=(n_resamples, len(values)))
    low, high = np.percentile(values[idx].mean(axis=1), [2.5, 97.5])
    return float(values.mean()), float(low), float(high)


def effect_rows(ex: Examples, base: list[np.ndarray], ablated: list[np.ndarray], unit: Unit, meta: dict
                ) -> list[dict]:
    """Δloss (ablated − intact, mean per token of each window) overall, per domain and per token class."""
    delta = [a - b for a, b in zip(ablated, base)]
    rows = []

    def add(kind: str, group: str, per_segment: np.ndarray, tokens: int) -> None:
        mean, low, high = _mean_ci(per_segment)
        rows.append({**meta, "stack": unit.stack, "layer": unit.layer, "expert": unit.expert, "group_kind": kind,
                     "group": group, "windows": int(np.isfinite(per_segment).sum()), "tokens": tokens,
                     "delta": mean, "ci_low": low, "ci_high": high})

    per_segment = np.array([d.mean() for d in delta])
    add("all", "all", per_segment, int(sum(len(d) for d in delta)))
    for domain in dict.fromkeys(ex.domains):
        keep = ex.domains == domain
        add("domain", str(domain), per_segment[keep], int(sum(len(d) for d, k in zip(delta, keep) if k)))
    for c, name in enumerate(TOKEN_CLASSES):
        values = np.array([d[cls == c].mean() if (cls == c).any() else np.nan for d, cls in zip(delta, ex.classes)])
        add("class", name, values, int(sum((cls == c).sum() for cls in ex.classes)))
    return rows


def ablate(loaded: LoadedModel, segments: Sequence[Any], units: Sequence[Unit], max_tokens: int = 50_000,
           seed: int = 0, progress: Callable[[int, int], None] | None = None, ex: Examples | None = None,
           reuse: bool = True) -> pd.DataFrame:
    """Every unit removed in turn from the intact model, on one tokenised sample (`ex`, else drawn from `segments`):
    Δloss rows (effect_rows). `reuse`: each removal reuses the intact pass's blocks below its layer."""
    ex = ex if ex is not None else examples(loaded, segments, max_tokens, seed)
    records: dict | None = {} if reuse and loaded.adapter.objective != "dense agreement" else None  # its dense pass
    base = losses(loaded, ex, records=records)
    meta = {"model": loaded.name, "objective": loaded.adapter.objective,
            "base_loss": float(np.mean(np.concatenate(base)))}
    rows = []
    for i, unit in enumerate(units):
        rows += effect_rows(ex, base, losses(loaded, ex, unit, records), unit, meta)
        if progress:
            progress(i + 1, len(units))
    return pd.DataFrame(rows)


def all_units(loaded: LoadedModel, stack: Stack | None = None, layer: int | None = None, expert: int | None = None
              ) -> list[Unit]:
    routers = loaded.adapter.routers(loaded.model)
    units = [Unit(s, int(block), e) for s, found in routers.items() for block, _m in found
             for e in range(loaded.num_experts)
             if (stack is None or s == stack) and (layer is None or int(block) == layer)
             and (expert is None or e == expert)]
    if not units:
        raise InputError("No expert matches --stack/--layer/--expert: see the model's sparse layers in `trace`.")
    return units


def lift_and_delta(ablation: pd.DataFrame, domain_stats: pd.DataFrame, load: pd.DataFrame, stack: str,
                   layer: int) -> pd.DataFrame:
    """(expert, domain) cells of one layer: the corpus statistics' domain lift (the domain's share of the expert ÷
    the expert's overall share, as the Experts heatmap) beside the ablation's Δloss on that domain."""
    part = ablation[(ablation.group_kind == "domain") & (ablation["stack"] == stack) & (ablation.layer == layer)]
    dom = domain_stats[(domain_stats["stack"] == stack) & (domain_stats.layer == layer)]
    overall = load[(load["stack"] == stack) & (load.layer == layer)].set_index("expert").share
    if not len(part) or not len(dom) or not len(overall):
        return pd.DataFrame(columns=["expert", "domain", "lift", "delta", "ci_low", "ci_high"])
    lift = dom.assign(lift=dom.share / dom.expert.map(overall))[["expert", "domain", "lift"]]
    return part.merge(lift, left_on=["expert", "group"], right_on=["expert", "domain"])[
        ["expert", "domain", "lift", "delta", "ci_low", "ci_high"]]


def observational_vs_causal(ablation: pd.DataFrame, domain_stats: pd.DataFrame, load: pd.DataFrame
                            ) -> pd.DataFrame:
    """Per (stack, layer): Spearman ρ across (expert, domain) cells between the corpus statistics' domain lift and
    the ablation's Δloss on that domain (lift_and_delta), with its bootstrap CI."""
    rows = []
    for (stack, layer), _part in ablation[ablation.group_kind == "domain"].groupby(["stack", "layer"]):
        cells = lift_and_delta(ablation, domain_stats, load, stack, int(layer))
        if not len(cells):
            continue
        corr = spearman(cells.lift, cells.delta)
        rows.append({"stack": stack, "layer": int(layer), "cells": len(cells), "rho": corr.rho, "ci_low": corr.ci_low,
                     "ci_high": corr.ci_high, "p": corr.p})
    return pd.DataFrame(rows)
