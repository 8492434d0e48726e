"""A real-size rehearsal: a random-weights checkpoint with OLMoE-1B-7B's shapes (16 layers, 64 experts, top-8,
≈6.9B parameters, ≈13.8 GB in bf16), written to disk as sharded safetensors the way the Hub ships it (one tensor per
expert, an index file), then run through the project's own CLI — loading, placement and all — step by step:

    check-model --dtype bfloat16 · trace of 8 sentences · reproduce --limit 20 · one intervene · ablate of experts
    at one layer on a few hundred tokens

Each step is its own process; its wall time and peak RSS (the process tree's, sampled every 0.2 s) are printed, with
the peak's ratio to the bf16 weights (goal: ≤ 1.3×). Routing of random weights means nothing; memory and time do.

    python -m bench.real_size [--folder cache/real-size-olmoe] [--keep] [--device cuda]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARD_BYTES = 2 * 2**30
SENTENCES = ["I sat on the river bank and watched the water.", "The bank raised its interest rates again.",
             "A bat flew out of the cave at dusk.", "He swung the bat and hit the ball.",
             "The spring in the mattress is broken.", "We planted tulips this spring.",
             "She wore a ring on her finger.", "The phone will ring in a minute."]


def olmoe_config():
    from transformers import OlmoeConfig

    return OlmoeConfig(vocab_size=50304, hidden_size=2048, intermediate_size=1024, num_hidden_layers=16,
                       num_attention_heads=16, num_key_value_heads=16, num_experts=64, num_experts_per_tok=8,
                       tie_word_embeddings=False, pad_token_id=1, eos_token_id=50279, bos_token_id=None)


def hub_tensors(config):
    """(name, shape) of every tensor as the Hub stores an OLMoE checkpoint: the model's own names, with each layer's
    fused experts split into one gate / up / down projection per expert (transformers fuses them on load)."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    for name, p in model.state_dict().items():
        if name.endswith("mlp.experts.gate_up_proj"):  # (E, 2I, d) → gate_proj and up_proj (I, d) per expert
            base, (experts, two_i, d) = name.rsplit(".", 1)[0], p.shape
            for e in range(experts):
                yield f"{base}.{e}.gate_proj.weight", (two_i // 2, d)
                yield f"{base}.{e}.up_proj.weight", (two_i // 2, d)
        elif name.endswith("mlp.experts.down_proj"):  # (E, d, I) → down_proj (d, I) per expert
            base, (experts, d, i) = name.rsplit(".", 1)[0], p.shape
            for e in range(experts):
                yield f"{base}.{e}.down_proj.weight", (d, i)
        else:
            yield name, tuple(p.shape)


def write_checkpoint(folder: Path) -> int:
    """Random bf16 weights written shard by shard (never the whole model in memory); returns the weights' bytes."""
    from safetensors.torch import save_file

    from bench.trace_throughput import tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    config = olmoe_config()
    gen = torch.Generator().manual_seed(0)
    shard: dict[str, torch.Tensor] = {}
    names: list[list[str]] = []
    size = total = 0

    def flush() -> None:
        save_file(shard, str(folder / f"part-{len(names):05d}.safetensors"), metadata={"format": "pt"})
        names.append(list(shard))
        shard.clear()

    for name, shape in hub_tensors(config):
        t = torch.ones(shape) if name.endswith("norm.weight") else torch.randn(shape, generator=gen) * 0.02
        shard[name] = t.to(torch.bfloat16)
        size += t.numel() * 2
        total += t.numel() * 2
        if size >= SHARD_BYTES:
            flush()
            size = 0
    if shard:
        flush()
    weight_map = {}
    for i, keys in enumerate(names):
        final = f"model-{i + 1:05d}-of-{len(names):05d}.safetensors"
        (folder / f"part-{i:05d}.safetensors").rename(folder / final)
        weight_map.update(dict.fromkeys(keys, final))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total},
                                                                     "weight_map": weight_map}))
    config.save_pretrained(folder)
    tokenizer().save_pretrained(folder)
    return total


def run_step(name: str, argv: list[str], env: dict) -> tuple[float, float, float, int]:
    """(seconds, peak RSS GiB of the process tree, its peak anonymous memory GiB — RSS less the file-backed pages
    the safetensors memory maps keep resident, which the kernel can drop — and the exit code) of
    `python -m core <argv>`."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "core", *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    root, peak, anon = psutil.Process(proc.pid), 0, 0
    while proc.poll() is None:
        try:
            infos = [p.memory_info() for p in [root, *root.children(recursive=True)]]
            peak = max(peak, sum(i.rss for i in infos))
            anon = max(anon, sum(i.rss - i.shared for i in infos))
        except psutil.Error:
            pass
        time.sleep(0.2)
    out = proc.stdout.read() if proc.stdout else ""
    tail = "\n".join(out.strip().splitlines()[-3:])
    print(f"--- {name}: exit {proc.returncode}\n{tail}", flush=True)
    return time.perf_counter() - t, peak / 2**30, anon / 2**30, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", default=str(ROOT / "cache" / "real-size-olmoe"))
    parser.add_argument("--keep", action="store_true", help="keep the checkpoint (14 GB) afterwards")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    args = parser.parse_args()
    folder = Path(args.folder)
    t = time.perf_counter()
    weights = write_checkpoint(folder) if not (folder / "model.safetensors.index.json").is_file() else sum(
        f.stat().st_size for f in folder.glob("model-*.safetensors"))
    print(f"checkpoint: {weights / 2**30:.1f} GiB of bf16 weights in {len(list(folder.glob('model-*.safetensors')))} "
          f"shards, written in {time.perf_counter() - t:.0f} s", flush=True)
    env = {**os.environ, "ROUTING_LENS_CACHE": str(folder.parent / "real-size-cache")}
    model = ["--model", str(folder), "--dtype", "bfloat16", "--no-cache"] + (["--device", args.device]
                                                                             if args.device else [])
    out = folder.parent / "real-size-out"
    steps = {
        "check-model": ["check-model", *model],
        "trace 8 sentences": ["trace", *model, "--stacks", "decoder", *[a for s in SENTENCES for a in ("--text", s)]],
        "reproduce --limit 20": ["reproduce", *model, "--limit", "20", "--out", str(out / "reproduce")],
        "intervene (ban e0, e1)": ["intervene", *model, "--text", SENTENCES[1], "--ban", "0,1"],
        "ablate (layer 0, expert 0)": ["ablate", *model, "--corpus", "nltk:brown", "--layer", "0", "--expert", "0",
                                       "--max-tokens", "300", "--out", str(out / "ablate")],
    }
    rows = [(name, *run_step(name, argv, env)) for name, argv in steps.items()]
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"\nreal-size rehearsal on {device} ({psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB): weights {weights / 2**30:.1f} GiB bf16")
    gib = weights / 2**30
    print(f"{'step':30} {'time':>8} {'peak RSS':>10} {'× weights':>10} {'peak anon':>10} {'× weights':>10} {'exit':>5}")
    for name, seconds, peak, anon, code in rows:
        print(f"{name:30} {seconds:7.0f}s {peak:9.1f}G {peak / gib:9.2f}× {anon:9.1f}G {anon / gib:9.2f}× {code:5d}")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
