"""Decoder-only MoE at real sizes: memory plan vs measured RSS, tracing throughput, and what disk offload costs;
and every family at once: tracing against the model's own forward without hooks, and the planner's placement.

    python -m bench.decoder_families [--shapes granite olmoe] [--sentences 300] [--offload-fraction 0.5]
    python -m bench.decoder_families --every-family [--sentences 64] [--width 256]
    python -m bench.decoder_families --real-size

`--real-size`: every family's config class at its defaults (for most, the reference checkpoint's shape) built on the
meta device (no memory): the routers the adapter finds at that size, the exact parameter count, and the planner's
placement here.

Random-init models of the real shapes of ibm-granite/granite-3.0-1b-a400m-base (1.33B, 32 experts, top-8)
and allenai/OLMoE-1B-7B-0924 (6.9B, 64 experts, top-8) — no download — saved in bf16 and loaded back through
`core.models.load_model` (the path a Hub checkpoint takes). Routing of random weights means nothing; the
time and memory do. With --offload-fraction F the model is loaded a second time with device_map='auto',
CPU memory capped at F of its weights and the rest offloaded to disk, and traced again.
"""
from __future__ import annotations

import argparse
import gc
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import psutil
import torch

from bench.trace_throughput import matmul_peak, sentences, tokenizer
from core.models.loading import load_model
from core.models.placement import offload_folder
from core.tracing.tracer import Tracer


def shape_config(name: str):
    from transformers import GraniteMoeConfig, OlmoeConfig

    if name == "granite":  # ibm-granite/granite-3.0-1b-a400m-base
        return GraniteMoeConfig(vocab_size=49155, hidden_size=1024, intermediate_size=512, num_hidden_layers=24,
                                num_attention_heads=16, num_key_value_heads=8, num_local_experts=32,
                                num_experts_per_tok=8, tie_word_embeddings=True, embedding_multiplier=12.0,
                                logits_scaling=6.0, residual_multiplier=0.22, attention_multiplier=0.015625)
    if name == "olmoe":  # allenai/OLMoE-1B-7B-0924
        return OlmoeConfig(vocab_size=50304, hidden_size=2048, intermediate_size=1024, num_hidden_layers=16,
                           num_attention_heads=16, num_key_value_heads=16, num_experts=64, num_experts_per_tok=8,
                           tie_word_embeddings=False)
    raise SystemExit(f"unknown shape {name!r}: granite or olmoe")


def active_flops(model, config) -> float:
    """FLOPs per token: 2 × parameters a token touches (top-k of the experts, no embeddings / LM head)."""
    experts = getattr(config, "num_local_experts", None) or config.num_experts
    k = config.num_experts_per_tok
    total = 0
    for name, p in model.named_parameters():
        if "embed" in name or "lm_head" in name:
            continue
        total += p.numel() * k // experts if ".experts." in name else p.numel()
    return 2.0 * total


def rss_gib() -> float:
    return psutil.Process().memory_info().rss / 2**30


def build(name: str, folder: Path) -> None:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    t = time.perf_counter()
    model = AutoModelForCausalLM.from_config(shape_config(name), dtype=torch.bfloat16)
    model.save_pretrained(folder)
    tokenizer().save_pretrained(folder)
    print(f"built and saved a random {name} model ({sum(p.numel() for p in model.parameters()) / 1e9:.2f}B params) "
          f"in {time.perf_counter() - t:.0f} s")
    del model
    gc.collect()


def trace_speed(loaded, texts: list[str]) -> tuple[float, int]:
    tracer = Tracer(loaded, cache=None)
    tracer.trace(texts[:4])  # warm-up
    t = time.perf_counter()
    traces = tracer.trace(texts)
    n = sum(len(tr.tokens) for tr in traces)
    return n / (time.perf_counter() - t), n


def forward_speed(loaded, texts: list[str], tokens: int) -> float:
    """Tokens per second of what a user would run without Routing Lens: tokenise, then the model's own forward."""
    t = time.perf_counter()
    with torch.inference_mode():
        for text in texts:
            x = loaded.tokenizer(text, return_tensors="pt")
            loaded.model(input_ids=x["input_ids"], attention_mask=x["attention_mask"], use_cache=False)
    return tokens / (time.perf_counter() - t)


def tracing_speed(tracer: Tracer, texts: list[str], tokens: int) -> float:
    t = time.perf_counter()
    for text in texts:
        tracer.trace([text])
    return tokens / (time.perf_counter() - t)


def every_family(n_sentences: int, width: int) -> None:
    """Each family on a random model of its own config class (the tests' tiny config, widened to `width`): tokens
    per second of the model's own forward without hooks and of the tracer (hooks, distribution, top-k), the tracing
    overhead, and the planner's placement on this machine for the family's smallest public checkpoint."""
    import sys

    from transformers import AutoModelForCausalLM

    from core.models.adapters import DECODER_FAMILIES
    from core.models.placement import estimate_bytes, placement_hint

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from helpers import tiny_decoder_config

    tok = tokenizer()
    texts = sentences(n_sentences)
    print("| family | scoring | forward, no hooks (tok/s) | tracing (tok/s) | overhead | smallest checkpoint | "
          "bf16 | placement here |")
    print("|---|---|---|---|---|---|---|---|")
    for name, fam in DECODER_FAMILIES.items():
        torch.manual_seed(0)
        config = tiny_decoder_config(name, len(tok), d_model=width)
        with tempfile.TemporaryDirectory(prefix=f"rl-{name}-") as tmp:
            AutoModelForCausalLM.from_config(config).save_pretrained(tmp)
            tok.save_pretrained(tmp)
            loaded = load_model(tmp, dtype="float32")
            tracer = Tracer(loaded, cache=None, stop_early=False)  # the whole pass, as the plain forward does
            tokens = sum(len(e.ids) for e in tracer.encode_many(texts))
            forward_speed(loaded, texts, tokens), tracing_speed(tracer, texts, tokens)  # warm-up
            base = max(forward_speed(loaded, texts, tokens) for _ in range(3))
            hooked = max(tracing_speed(tracer, texts, tokens) for _ in range(3))
        params = fam.smallest_params
        print(f"| {name} | {fam.scoring.key} | {base:,.0f} | {hooked:,.0f} | {100 * (base / hooked - 1):+.0f} % | "
              f"`{fam.smallest}` | {estimate_bytes(params, 'bfloat16') / 2**30:,.0f} GiB | {placement_hint(params)} |",
              flush=True)


def real_size() -> None:
    """Each family's config at its class defaults, built on the meta device: what the adapter finds and the plan."""
    from transformers import AutoConfig

    from core.models.adapters import DECODER_FAMILIES, adapter_for
    from core.models.loading import count_parameters
    from core.models.placement import estimate_bytes, placement_hint

    print("| family | config defaults: experts, top-k | sparse layers found | params (meta device) | "
          "smallest checkpoint (card) | bf16 | placement here |")
    print("|---|---|---|---|---|---|---|")
    for model_type in [*(f.model_types[0] for f in DECODER_FAMILIES.values()), "nllb-moe"]:
        config = AutoConfig.for_model(model_type)
        try:
            adapter = adapter_for(config)
            with torch.device("meta"):
                model = adapter.model_class().from_config(config)
        except (TypeError, ValueError) as err:  # a config class whose defaults leave a size unset
            print(f"| {model_type} | its config's defaults do not build a model ({err.__class__.__name__}) "
                  "| | | | | |", flush=True)
            continue
        found = sum(len(v) for v in adapter.routers(model).values())
        params = count_parameters(config)
        fam = DECODER_FAMILIES.get(adapter.family)
        card = f"`{fam.smallest}` {fam.smallest_params / 1e9:,.1f}B" if fam else "`facebook/nllb-moe-54b` 54.5B"
        print(f"| {adapter.family} | {adapter.num_experts}, top-{adapter.top_k} | {found} | {params / 1e9:,.2f}B | "
              f"{card} | {estimate_bytes(params, 'bfloat16') / 2**30:,.0f} GiB | {placement_hint(params)} |", flush=True)
        del model
        gc.collect()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--every-family", action="store_true", help="every family: tracing overhead and placement")
    ap.add_argument("--real-size", action="store_true", help="every family at its config's default size, on meta")
    ap.add_argument("--width", type=int, default=256, help="--every-family: the models' hidden size")
    ap.add_argument("--shapes", nargs="+", default=["granite"])
    ap.add_argument("--sentences", type=int, default=300)
    ap.add_argument("--offload-fraction", type=float, default=0.5, help="0 to skip the offload run")
    args = ap.parse_args()
    from transformers.utils import logging

    logging.set_verbosity_error()
    if args.real_size:
        real_size()
        return
    if args.every_family:
        every_family(args.sentences if args.sentences != 300 else 64, args.width)
        return
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpu count {os.cpu_count()}")
    peak = matmul_peak(torch.bfloat16)
    print(f"matmul peak bf16: {peak:.0f} GFLOP/s")
    texts = sentences(args.sentences)
    for name in args.shapes:
        with tempfile.TemporaryDirectory(prefix=f"rl-{name}-") as tmp:
            folder = Path(tmp)
            build(name, folder)
            base = rss_gib()
            t = time.perf_counter()
            loaded = load_model(str(folder), dtype="bfloat16",
                                on_plan=lambda plan: print(f"plan: {plan.summary}"))
            print(f"loaded in {time.perf_counter() - t:.1f} s; RSS +{rss_gib() - base:.2f} GiB "
                  f"(weights {sum(p.numel() * p.element_size() for p in loaded.model.parameters()) / 2**30:.2f} GiB)")
            flops = active_flops(loaded.model, loaded.config)
            bound = peak * 1e9 / flops
            tps, n = trace_speed(loaded, texts)
            print(f"{name}: {n} tokens, {tps:.0f} tok/s in bf16 = {100 * tps / bound:.0f}% of the bound "
                  f"({bound:.0f} tok/s at {flops / 1e9:.2f} GFLOP/token); peak RSS "
                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
            weights = sum(p.numel() * p.element_size() for p in loaded.model.parameters())
            reference = Tracer(loaded, cache=None).trace(texts[:20])
            del loaded
            gc.collect()
            if args.offload_fraction > 0:
                cap = int(weights * args.offload_fraction)
                t = time.perf_counter()
                off = load_model(str(folder), dtype="bfloat16", placement="offload", max_memory={"cpu": cap},
                                 on_plan=lambda plan: print(f"plan (forced): {plan.summary}"))
                where = {d: sum(1 for v in off.model.hf_device_map.values() if v == d) for d in ("cpu", "disk")}
                print(f"offload load in {time.perf_counter() - t:.1f} s; device_map entries {where}")
                otps, _ = trace_speed(off, texts)
                same = Tracer(off, cache=None).trace(texts[:20])
                diff = max(float(abs(a.stacks["decoder"].token_probs - b.stacks["decoder"].token_probs).max())
                           for a, b in zip(reference, same))
                print(f"{name} with {100 * (1 - args.offload_fraction):.0f}% of the weights on disk: {otps:.0f} tok/s "
                      f"= {tps / otps:.1f}x slower; max |p - p_plain| over 20 sentences = {diff:.2e}")
                del off
                gc.collect()
                shutil.rmtree(offload_folder(str(folder.resolve())), ignore_errors=True)  # leave no cache behind


if __name__ == "__main__":
    main()
