"""What an intervention on routing changes downstream, measured the family's own way: a decoder-only model's
next-token distribution at every position; a Switch model's decoder predictions of the text, teacher-forced (each
position predicts its own token, as with `labels`). Per token: the loss before and after, the KL divergence of the
intervened distribution from the original, and the top-5 predictions before and after, with the original beside."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from core.errors import InputError
from core.models.loading import LoadedModel
from core.tracing.encoding import token_names
from core.tracing.interventions import Intervention, intervening

TOP = 5


@dataclass
class Outcome:
    """One text under interventions: per position the original and intervened predictions (`frame`), the summary
    (`mean_kl`, `loss_before`, `loss_after`) and the interventions stated in words."""

    frame: pd.DataFrame
    interventions: list[str]

    @property
    def mean_kl(self) -> float:
        return float(self.frame.kl.mean()) if len(self.frame) else float("nan")

    @property
    def loss_before(self) -> float:
        return float(self.frame.loss_before.mean())

    @property
    def loss_after(self) -> float:
        return float(self.frame.loss_after.mean())


def log_probs(loaded: LoadedModel, ids: torch.Tensor, rows: tuple[int, int] | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-probabilities (B, T, V) float32, the tokens they predict (B, T)): next tokens (decoder-only) or the text's
    own tokens through a teacher-forced decoder (Switch). `rows` (decoder-only, (first, end)): only those predictions
    are computed — the language-model head and its softmax over the vocabulary are most of a small model's pass, and a
    counterfactual scan reads a few rows."""
    model = loaded.model
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        if loaded.adapter.objective == "span corruption":
            logits = model(input_ids=ids, attention_mask=mask, labels=ids).logits
            gold = ids
        elif loaded.adapter.objective == "next token":
            if rows is None:
                logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1]
                gold = ids[:, 1:]
            else:  # row t predicts token t + 1: positions first … end − 1
                keep = torch.arange(rows[0], rows[1], device=ids.device)
                logits = model(input_ids=ids, attention_mask=mask, use_cache=False, logits_to_keep=keep).logits
                gold = ids[:, rows[0] + 1:rows[1] + 1]
        else:
            raise InputError(f"{loaded.name} has no language-model head to measure an outcome on.")
    return torch.log_softmax(logits.float(), dim=-1), gold


def outcome(loaded: LoadedModel, text: str, interventions: Sequence[Intervention]) -> Outcome:
    """`text` run intact and under `interventions` (`loaded` must carry its LM head: load_model(..., lm_head=True))."""
    tok = loaded.tokenizer
    ids = torch.tensor([tok(text, truncation=True, max_length=512)["input_ids"]], device=loaded.input_device)
    if ids.shape[1] < 2:
        raise InputError("The text is too short to predict anything: give at least two tokens.")
    before, gold = log_probs(loaded, ids)
    with intervening(loaded, interventions):
        after, _ = log_probs(loaded, ids)
    b, a = before[0], after[0]
    kl = (b.exp() * (b - a)).sum(-1).clamp_min(0)
    g = gold[0]
    names = token_names(tok, g.tolist())
    top_b, top_a = b.topk(TOP, -1).indices.tolist(), a.topk(TOP, -1).indices.tolist()
    first = 1 if loaded.adapter.objective == "next token" else 0
    frame = pd.DataFrame({
        "position": np.arange(len(g)) + first, "token": names,
        "loss_before": (-b.gather(-1, g[:, None])[:, 0]).cpu().numpy(),
        "loss_after": (-a.gather(-1, g[:, None])[:, 0]).cpu().numpy(), "kl": kl.cpu().numpy(),
        "top5_before": [" ".join(token_names(tok, t)) for t in top_b],
        "top5_after": [" ".join(token_names(tok, t)) for t in top_a]})
    return Outcome(frame, [iv.describe() for iv in interventions])


NOISY_LOSS = 6.0  # nats per token: above it a model's own predictions are close to noise (a fluent LM is near 2–3)


def reading(result: Outcome) -> str:
    """One sentence that reads an outcome for a class: how far the predictions moved (KL in words), whether the top
    prediction changed anywhere, and whether the model's own predictions mean anything to begin with."""
    kl = result.mean_kl
    size = ("did not move the predictions measurably" if kl < 1e-4 else "barely moved the predictions" if kl < 0.01
            else "moved the predictions a little" if kl < 0.1 else "moved the predictions clearly" if kl < 1
            else "changed the predictions a lot")
    top = [b.split()[:1] != a.split()[:1] for b, a in zip(result.frame.top5_before, result.frame.top5_after)]
    flips = int(sum(top))
    said = (f"This {size} (mean KL {kl:.3g} nats: 0 means unchanged); "
            + ("the top prediction did not change at any position." if not flips else
               f"the top prediction changed at {flips} of {len(top)} positions."))
    if any("<extra_id_" in t for t in [*result.frame.top5_before, *result.frame.top5_after]):
        said += (" Tokens such as <extra_id_0> are the blanks a span-corruption model (Switch, T5) was trained to fill,"
                 " not words.")
    if result.loss_before > NOISY_LOSS:
        said += (f" This teaching model predicts text poorly to begin with (loss {result.loss_before:.1f} nats per "
                 "token; a fluent model is near 2–3), so read the change, not the predicted words.")
    return said
