"""MODEL_CARD.md of the demo models: the parts every card shares, and one template per family."""
from __future__ import annotations


def utilisation_rows(stats: dict) -> str:
    """The card's expert-utilisation table rows, one per router."""
    return "\n".join(
        f"| {k} | {v['min_share']:.3f} | {v['max_share']:.3f} | {v['normalised_entropy']:.3f} | {v['unused_experts']} |"
        for k, v in stats.get("expert_utilisation", {}).items())


def sources_line(stats: dict) -> str:
    return ", ".join(f"{k} ({v:,} sentences)" for k, v in stats["sentences_per_source"].items())


def wic_skipped(wic: dict) -> str:
    return f"WiC check not run ({wic.get('skipped', 'interrupted or disabled')})."


def switch_card(stats: dict) -> str:
    s = stats["settings"]
    util_rows = utilisation_rows(stats)
    wic = stats.get("wic_check") or {}
    if "encoder" in wic:
        wic_text = (
            f"On the first {wic['pairs']} WiC dev pairs, mean routing JSS of the target word (mean over sparse layers):\n\n"
            "| stack | same meaning (T) | different meaning (F) |\n|---|---|---|\n"
            + "\n".join(f"| {st} | {wic[st]['mean_jss_same']:.4f} | {wic[st]['mean_jss_different']:.4f} |"
                        for st in ("encoder", "decoder"))
        )
    else:
        wic_text = wic_skipped(wic)
    sources = sources_line(stats)
    return f"""# demo-switch-{s['experts']} — a teaching model, not the paper's models

A tiny Switch Transformer (`SwitchTransformersForConditionalGeneration`, encoder–decoder) trained by
Routing Lens on 2 CPU cores with `python -m core train-demo`. It exists so the app is meaningful offline.
It is **not** google/switch-base-{s['experts']}: far smaller, trained on far less text, for minutes.

## Architecture
- d_model {s['d_model']}, {s['num_layers']} + {s['num_layers']} blocks, {s['num_heads']} heads, expert d_ff {s['d_ff']},
  {s['experts']} experts in blocks 1 and 3 of each stack (sparse every other block, as in switch-base),
  top-1 token-choice routing, expert capacity 64, load-balancing loss (coef {s.get('aux_coef', 0.01)}) and router z-loss (coef 0.001).
- {stats['params']:,} parameters, stored in float16.
- Tokenizer: Unigram (SentencePiece-style) trained on a sample of {min(s['tokenizer_sentences'], stats['train_sentences']):,} training
  sentences, T5 layout (`<pad>`=0, `</s>`=1, `<unk>`=2, `<extra_id_0…99>` at the end of the vocabulary).

## Data
Sources: {sources}. Every {s['heldout_every']}th sentence is held out
({stats['heldout_sentences']:,} held-out, {stats['train_sentences']:,} training sentences;
{stats['train_stream_tokens']:,} training tokens, packed into rows of {s['seq_len']}).

## Training
T5 span corruption (15 % noise, mean span 3, sentinels). {stats['steps']:,} steps of {s['batch_size']} rows,
{stats['tokens_seen']:,} input tokens seen, {stats['train_seconds']:.0f} s, AdamW (lr {s['lr']}, warm-up {s['warmup']} steps,
inverse-square-root decay), seed {s['seed']}.{' **Interrupted** before the budget was spent.' if stats['interrupted'] else ''}
Final training loss {stats['final_train'].get('loss', float('nan')):.3f} (aux {stats['final_train'].get('aux', float('nan')):.3f}).

## Measured quality
- Held-out span-corruption loss on the hidden tokens: **{stats['heldout_loss']:.3f} nats/token**, vs
  **{stats['unigram_baseline_loss']:.3f}** for a unigram model of the training text ({stats['heldout_span_tokens']:,} tokens).
- Expert utilisation on held-out text (share of top-1 choices per expert):

| layer | min share | max share | normalised entropy | unused experts |
|---|---|---|---|---|
{util_rows}

- {wic_text}

## Limits
A teaching model: tiny, trained for minutes on ~5M words of 20th-century English and WordNet glosses.
Its routing is dominated by token identity; do not read its numbers as the paper's.
"""


def causal_card(stats: dict) -> str:
    s = stats["settings"]
    util_rows = utilisation_rows(stats)
    wic = stats.get("wic_check") or {}
    if "decoder" in wic:
        wic_text = (f"On the first {wic['pairs']} WiC dev pairs, mean routing JSS of the target word over its "
                    f"{s['num_layers']} sparse layers: same meaning {wic['decoder']['mean_jss_same']:.4f}, "
                    f"different meaning {wic['decoder']['mean_jss_different']:.4f}.")
    else:
        wic_text = wic_skipped(wic)
    sources = sources_line(stats)
    return f"""# demo-mixtral-{s['experts']} — a decoder-only teaching model, not Mixtral

A tiny decoder-only mixture-of-experts language model with the Mixtral architecture (`MixtralForCausalLM`),
trained by Routing Lens on 2 CPU cores with `python -m core train-demo --family mixtral`. It is the causal
counterpart of demo-switch-8: the same text and the same tokenizer ({stats['tokenizer_from'].rsplit('/', 1)[-1]}),
a similar size, but next-token prediction instead of span corruption. It is **not** mistralai/Mixtral-8x7B.

## Architecture
- d_model {s['d_model']}, {s['num_layers']} layers (all sparse), {s['num_heads']} heads, {s['experts']} experts of d_ff
  {s['d_ff']} (SwiGLU), top-{s['top_k']} token-choice routing with renormalised weights, no capacity limit,
  load-balancing loss (coef {s['aux_coef']}); tied input/output embeddings.
- {stats['params']:,} parameters, stored in float16.

## Data
Sources: {sources}. Every {s['heldout_every']}th sentence is held out ({stats['heldout_sentences']:,} held-out,
{stats['train_sentences']:,} training sentences; {stats['train_stream_tokens']:,} training tokens in rows of {s['seq_len']}).

## Training
Next-token prediction. {stats['steps']:,} steps of {s['batch_size']} rows, {stats['tokens_seen']:,} tokens seen,
{stats['train_seconds']:.0f} s, AdamW (lr {s['lr']}, warm-up {s['warmup']} steps, inverse-square-root decay), seed
{s['seed']}.{' **Interrupted** before the budget was spent.' if stats['interrupted'] else ''}
Final training loss {stats['final_train'].get('loss', float('nan')):.3f} (aux {stats['final_train'].get('aux', float('nan')):.3f}).

## Measured quality
- Held-out next-token loss: **{stats['heldout_loss']:.3f} nats/token**, vs **{stats['unigram_baseline_loss']:.3f}** for a
  unigram model of the training text ({stats['heldout_tokens']:,} tokens).
- Expert utilisation on held-out text (share of the top-{s['top_k']} choices per expert):

| layer | min share | max share | normalised entropy | unused experts |
|---|---|---|---|---|
{util_rows}

- {wic_text}

## Limits
A teaching model: tiny, trained for minutes. A token's routing sees only the tokens to its left.
"""
