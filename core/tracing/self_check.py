"""Does the model do what its router says? A self-check runnable on any loaded model (`python -m core check-model`).

For one sentence, at every sparse layer, hooks on the model's own modules record what the router output and what
its experts module was handed (the dispatched experts and their weights) and returned. Two checks per layer:

1. *Reading*: the experts the adapter reads off the router (what every trace records) are exactly the experts the
   model dispatched, token by token, as sets (and, for a capacity router, the same tokens dropped). An expert handed
   with weight 0 counts as dispatched and is named (it adds nothing to the output).
2. *Dispatch*: the experts module's output equals the weighted sum of each dispatched expert run on its own
   (every expert called alone through the same module, weight 1). A module that runs other experts than it was
   handed — an upstream fault, as NLLB-MoE's one-hot dispatch in transformers 5.23 — fails here.

Shared experts run outside the experts module and are not part of this sum; the block adds them afterwards.

Two checks on the whole model: *batch invariance* (the sentence traced alone and beside another, right-padded, gets
the same chosen experts at every layer) and *determinism* (two runs agree). A family whose routing depends on its batch
by design is traced one text per forward (its adapter says why), and the check says so instead of failing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from core.models.loading import LoadedModel

CHECK_TEXT = "The bank raised its interest rates again this spring."
FLOAT32_EPS = float(torch.finfo(torch.float32).eps)
BESIDE_TEXT = "A second, longer sentence shares the batch with the first one, so that the first is padded."
# The dispatch check's tolerance follows the precision the experts ran in: (2k ε + k ⌈√d⌉ ε32) × the largest output.
# 2k roundings in the dtype (each of the k experts' outputs is rounded to it once, and the k weighted outputs are
# summed in it), plus the float32 accumulation inside each expert's matrix products (a sum over d inputs, whose
# rounding grows as √d; in half precision it is small beside the dtype's own). Measured on 25 families and Switch in
# float32, bfloat16 and float16, healthy models stay within 2.2 dtype epsilons of the largest output (an
# OLMoE-1B-7B-shaped model in bfloat16: 6e-4 at outputs of 0.23); the earlier k ⌈√d⌉ ε of the dtype allowed 368
# bfloat16 epsilons there, more than a whole expert's share. A fault such as NLLB-MoE's (an expert run that was not
# dispatched) differs by whole outputs (docs/definitions.md, "Self-check").

@dataclass(frozen=True)
class LayerCheck:
    stack: str
    block: int
    tokens: int
    reading_matches: bool  # the adapter's chosen experts (and drops) equal what the experts module was handed
    max_diff: float  # |experts output − Σ weight · expert alone|, largest over tokens and features
    scale: float  # largest |experts output|
    eps: float = float(torch.finfo(torch.float32).eps)  # machine epsilon of the dtype the experts ran in
    terms: int = 1  # roundings in the dtype: 2k (each of the k experts' outputs rounded to it, then summed in it)
    zero_weight: int = 0  # (token, expert) dispatches handed with weight 0: counted as dispatched, named
    accumulated: int = 0  # float32 accumulation inside each expert's matrix products: k × ⌈√d⌉ (d its input width)

    @property
    def tolerance(self) -> float:
        return (self.terms * self.eps + self.accumulated * FLOAT32_EPS) * self.scale

    @property
    def ok(self) -> bool:
        return self.reading_matches and self.max_diff <= self.tolerance


@dataclass
class SelfCheck:
    model: str
    layers: list[LayerCheck] = field(default_factory=list)
    skipped: str = ""  # why the check could not run on this model ("" when it ran)
    batch_changes: int = 0  # (layer, token) choices of the sentence that differ alone and beside another
    batch_ties: int = 0  # of which at near-ties (rounding breaks them either way: a precision note, not a fault)
    run_changes: int = 0  # (layer, token) choices that differ between two identical runs
    run_ties: int = 0
    batch_note: str = ""  # why the model is traced one text per forward ("" when batches are invariant)

    @property
    def batch_invariant(self) -> bool:
        return self.batch_changes == self.batch_ties or bool(self.batch_note)

    @property
    def deterministic(self) -> bool:
        return self.run_changes == self.run_ties

    @property
    def ok(self) -> bool | None:
        """True / False; None when the check does not apply to this model."""
        if self.skipped:
            return None
        return all(layer.ok for layer in self.layers) and self.batch_invariant and self.deterministic

    def whole_model(self) -> str:
        """The batch-invariance and determinism verdicts, in a line."""
        batch = ("the same choice alone and in a batch" if self.batch_changes == 0 else
                 f"{self.batch_changes} choices change in a batch; traced one text per forward ({self.batch_note})"
                 if self.batch_note else
                 f"{self.batch_changes} choices change in a batch, all at near-ties that rounding breaks either way "
                 "(a precision note: float32 tells them apart)" if self.batch_invariant else
                 f"{self.batch_changes} choices change when batched, {self.batch_changes - self.batch_ties} of them "
                 "not at a near-tie (NOT batch-invariant)")
        runs = ("two runs agree" if self.run_changes == 0 else
                f"{self.run_changes} choices change between two runs, all at near-ties" if self.deterministic else
                f"{self.run_changes} choices change between two runs (NOT deterministic)")
        return f"{batch}; {runs}."

    def summary(self) -> str:
        if self.skipped:
            return f"Self-check not applicable to {self.model}: {self.skipped}"
        bad = [layer for layer in self.layers if not layer.ok]
        worst = max((layer.max_diff for layer in self.layers), default=0.0)
        allowed = max((layer.tolerance for layer in self.layers), default=0.0)
        zero = sum(layer.zero_weight for layer in self.layers)
        named = f" {zero} dispatches carried weight 0 (they add nothing)." if zero else ""
        if not bad and self.ok:
            return (f"Self-check passed on {len(self.layers)} sparse layers: the traced experts are the ones the model "
                    f"dispatched, and each layer's output is their weighted sum (largest difference {worst:.1e}, "
                    f"within the rounding of the model's precision, {allowed:.1e}); {self.whole_model()}" + named)
        if not bad:
            return f"Self-check FAILED: {self.whole_model()} A trace of this model would depend on chance." + named
        where = ", ".join(f"{b.stack} block {b.block}" for b in bad)
        reading = any(not b.reading_matches for b in bad)
        return (f"Self-check FAILED at {where}: "
                + ("the experts read off the router are not the ones the model dispatched; " if reading else "")
                + f"the experts module's output differs from the weighted sum of its dispatched experts by up to "
                  f"{worst:.3g}. The model does not do what its router says: the trace shows the router's decision."
                + named)


def check_tracer(tracer, text: str | None = None) -> SelfCheck:
    """`self_check` on a tracer's model under the tracer's lock: its hooks must see only their own pass, never a
    trace another session runs on the shared model at the same moment."""
    with tracer._lock:  # noqa: SLF001 - the lock every pass on this model takes
        return self_check(tracer.loaded, text or CHECK_TEXT)


def experts_beside(model: torch.nn.Module, router: torch.nn.Module, names: dict[int, str]) -> torch.nn.Module | None:
    """The experts module beside a router in its MoE block (transformers 5 names it `experts`)."""
    parent_name = names[id(router)].rpartition(".")[0]
    experts = getattr(model.get_submodule(parent_name), "experts", None) if parent_name else None
    return experts if isinstance(experts, torch.nn.Module) else None


def self_check(loaded: LoadedModel, text: str = CHECK_TEXT) -> SelfCheck:
    """Run both checks on `text` at every sparse layer of `loaded` (see the module's docstring)."""
    adapter, model = loaded.adapter, loaded.model
    result = SelfCheck(loaded.name)
    if not adapter.has_router:
        result.skipped = "its routing is read off a dense model (no router, no experts module)"
        return result
    names = {id(m): n for n, m in model.named_modules()}
    seen: dict[tuple[str, int], dict] = {}
    handles = []
    routers = adapter.routers(model)
    for stack, found in routers.items():
        for block, router in found:
            experts = experts_beside(model, router, names)
            if experts is None:
                continue
            slot = seen.setdefault((stack, block), {"experts": experts})
            handles.append(router.register_forward_hook(
                lambda _m, _i, out, slot=slot, conv=adapter.converter(stack, block): slot.__setitem__("read", conv(out))))
            handles.append(experts.register_forward_pre_hook(
                lambda _m, args, slot=slot: slot.__setitem__("args", tuple(a.detach() if torch.is_tensor(a) else a
                                                                          for a in args))))
            handles.append(experts.register_forward_hook(
                lambda _m, _i, out, slot=slot: slot.__setitem__("out", (out[0] if isinstance(out, tuple) else out)
                                                               .detach())))
    if not seen:
        result.skipped = "no experts module sits beside its routers (its experts are computed its own way)"
        return result
    enc = loaded.tokenizer(text, return_tensors="pt")
    device = next(model.parameters()).device
    try:
        with torch.inference_mode():
            adapter.run(model, enc["input_ids"].to(device), enc["attention_mask"].to(device), adapter.stacks)
        for h in handles:
            h.remove()
        handles = []
        for (stack, block), slot in sorted(seen.items()):
            if "args" not in slot or "read" not in slot:
                continue
            result.layers.append(_check_layer(adapter, stack, block, slot))
    finally:
        for h in handles:
            h.remove()
    alone = _choices(loaded, [text])
    eps = float(torch.finfo(loaded.model.dtype if loaded.model.dtype.is_floating_point else torch.float32).eps)
    result.run_changes, result.run_ties = _changes(alone, _choices(loaded, [text]), eps)
    result.batch_changes, result.batch_ties = _changes(alone, _choices(loaded, [text, BESIDE_TEXT]), eps)
    result.batch_note = adapter.one_text_per_forward
    return result


Reading = dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]]  # per layer: (chosen sorted (T, k), gap (T,))
TIE = 16  # a choice whose k-th and (k+1)-th scores differ by less than TIE machine epsilons (relative) is a near-tie


def _choices(loaded: LoadedModel, texts: list[str]) -> Reading:
    """The first text's chosen experts (tokens, k), sorted per token, at every sparse layer, and each token's relative
    gap between its k-th and (k+1)-th score: one pass over `texts` right-padded into one batch, read as every trace
    reads them (the adapter's converter)."""
    from core.tracing.encoding import right_padded

    adapter, model, tok = loaded.adapter, loaded.model, loaded.tokenizer
    rows = [list(tok(t)["input_ids"]) for t in texts]
    ids, mask = right_padded(rows, int(tok.pad_token_id if tok.pad_token_id is not None else 0))
    width = len(rows[0])
    got: Reading = {}

    def read(key: tuple[str, int], captured) -> None:
        probs, _dropped, chosen = captured
        chosen = chosen.reshape(len(texts), -1, chosen.shape[-1])[0]
        probs = probs.reshape(len(texts), -1, probs.shape[-1])[0].float()
        k = chosen.shape[-1]
        top = probs.topk(min(k + 1, probs.shape[-1]), dim=-1).values
        gap = ((top[:, k - 1] - top[:, k]) / top[:, k - 1].clamp_min(1e-30) if probs.shape[-1] > k
               else torch.full(top.shape[:1], float("inf")))
        got[key] = (chosen.sort(-1).values.cpu()[:width], gap.cpu()[:width])

    handles = [router.register_forward_hook(
        lambda _m, _i, out, key=(stack, block), conv=adapter.converter(stack, block): read(key, conv(out)))
        for stack, found in adapter.routers(model).items() for block, router in found]
    device = next(model.parameters()).device
    try:
        with torch.inference_mode():
            adapter.run(model, ids.to(device), mask.to(device), adapter.stacks)
    finally:
        for h in handles:
            h.remove()
    return got


def _changes(a: Reading, b: Reading, eps: float) -> tuple[int, int]:
    """(layer, token) choices that differ between two readings of the same sentence, and how many of them sit at a
    near-tie (the gap between the k-th and (k+1)-th score within TIE epsilons of the model's precision: rounding
    breaks such ties either way). A layer missing in one reading counts all its tokens, none at a tie."""
    changed = ties = 0
    for key in a.keys() | b.keys():
        x, y = a.get(key), b.get(key)
        if x is None or y is None or x[0].shape != y[0].shape:
            changed += len((x if x is not None else y)[0])
            continue
        flipped = (x[0] != y[0]).any(-1)
        changed += int(flipped.sum())
        ties += int((flipped & (torch.minimum(x[1], y[1]) <= TIE * eps)).sum())
    return changed, ties


def _check_layer(adapter, stack: str, block: int, slot: dict) -> LayerCheck:
    experts, args, out = slot["experts"], slot["args"], slot["out"].float()
    dtype = slot["out"].dtype if slot["out"].is_floating_point() else torch.float32
    hidden = args[0]
    index, weights, dropped = adapter.dispatched(args)
    _probs, read_dropped, read_selected = slot["read"]
    read_selected = read_selected.reshape(index.shape[0], -1)
    read_dropped = read_dropped.reshape(-1)
    kept = ~dropped
    # The read set equals the dispatched set, token by token: each dispatched expert was read and each read expert
    # dispatched (a weight-0 dispatch counts, and is named).
    index_c, read_c, kept_c = index.cpu(), read_selected.cpu().to(index.dtype), kept.cpu()
    dispatched_read = (index_c[..., None] == read_c[:, None, :]).any(-1)
    read_dispatched = (read_c[..., None] == index_c[:, None, :]).any(-1)
    reading = (bool(torch.equal(read_dropped.cpu(), dropped.cpu())) and bool(dispatched_read[kept_c].all())
               and bool(read_dispatched[kept_c].all()))
    zero_weight = int((weights.cpu() == 0)[kept_c].sum())
    out = adapter.experts_rows(out, index.shape[0])
    reference = torch.zeros_like(out)
    with torch.inference_mode():
        for e in index[kept].unique().tolist():
            alone = adapter.run_one_expert(experts, hidden, int(e)).float().reshape(reference.shape)
            for j in range(index.shape[1]):
                rows = kept & (index[:, j] == e)
                reference[rows] += weights[rows, j, None].float() * alone[rows]
    diff = (out - reference).abs()
    return LayerCheck(stack, block, int(index.shape[0]), reading, float(diff.max()) if diff.numel() else 0.0,
                      float(out.abs().max()) if out.numel() else 0.0, float(torch.finfo(dtype).eps),
                      2 * int(index.shape[1]), zero_weight,
                      int(index.shape[1]) * math.ceil(math.sqrt(hidden.shape[-1])))
