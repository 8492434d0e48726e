"""Does a serving engine route like the reference implementation? (R3, arXiv 2510.11370.) On a GPU machine with vLLM
and/or SGLang installed: serve a small MoE with routes turned on, capture WiC through the engine's OpenAI-compatible
server (`routing-lens capture`), trace the same texts with transformers, and print how often they agree
(`compare-traces`), by layer and by decision margin.

    python -m bench.engine_roundtrip [--model allenai/OLMoE-1B-7B-0924] [--engines vllm sglang] [--limit 500]

Without --model it builds a tiny Mixtral-family checkpoint (random weights, 8 experts, top-2; core.models.tiny's
recipe at a servable size) in a temporary folder, so it runs where the Hub is unreachable. Each engine is started as a
subprocess on a free port and stopped afterwards; an engine that is not installed is skipped with a line saying so.
"""
from __future__ import annotations

import argparse
import importlib.util
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVE = {
    "vllm": lambda model, port: [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
                                 "--port", str(port), "--enable-return-routed-experts", "--dtype", "float32"],
    "sglang": lambda model, port: [sys.executable, "-m", "sglang.launch_server", "--model-path", model, "--port",
                                   str(port), "--enable-return-routed-experts", "--dtype", "float32"],
}


def tiny_mixtral(folder: Path) -> str:
    """A small Mixtral (4 layers, 8 experts, top-2) with the bundled demo's tokenizer, saved to `folder`."""
    import torch
    from transformers import AutoTokenizer, MixtralConfig, MixtralForCausalLM

    from core.settings import BUNDLED_MODELS_DIR

    tokenizer = AutoTokenizer.from_pretrained(BUNDLED_MODELS_DIR / "demo-mixtral-8")
    config = MixtralConfig(vocab_size=len(tokenizer), hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                           num_attention_heads=4, num_key_value_heads=4, num_local_experts=8, num_experts_per_tok=2,
                           max_position_embeddings=512)
    torch.manual_seed(0)
    MixtralForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, limit_s: float = 600) -> bool:
    import httpx

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/v1/models", timeout=5).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(2)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--engines", nargs="+", default=["vllm", "sglang"])
    parser.add_argument("--limit", type=int, default=500, help="WiC sentences to capture")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or tiny_mixtral(Path(tmp) / "tiny-mixtral")
        texts_file = Path(tmp) / "texts.txt"
        from core.cli.routes import dataset_texts

        texts = dataset_texts("wic")[: args.limit]
        texts_file.write_text("\n".join(texts) + "\n", encoding="utf-8")
        reference = Path(tmp) / "reference"
        subprocess.run([sys.executable, "-m", "core", "export-trace", "--model", model, "--texts", str(texts_file),
                        "--out", str(reference)], check=True)
        for engine in args.engines:
            if importlib.util.find_spec(engine) is None:
                print(f"{engine}: not installed here, skipped")
                continue
            port = free_port()
            proc = subprocess.Popen(SERVE[engine](model, port), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            try:
                url = f"http://127.0.0.1:{port}"
                if not wait_ready(url, proc):
                    print(f"{engine}: the server did not start")
                    continue
                out = Path(tmp) / engine
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "core", "capture", "--engine", engine, "--url", url, "--model",
                                model, "--texts", str(texts_file), "--out", str(out)], check=True)
                print(f"{engine}: captured {len(texts)} texts in {time.perf_counter() - started:.1f} s")
                subprocess.run([sys.executable, "-m", "core", "compare-traces", str(reference), str(out)], check=True)
            finally:
                proc.terminate()
                proc.wait(timeout=60)


if __name__ == "__main__":
    main()
