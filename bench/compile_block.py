"""torch.compile on one sparse encoder block of the switch-base-8 shape (fp32, 32 × 40 tokens): the compile time,
eager against compiled (alternating, median of 6 calls each) and the largest output difference.

    python -m bench.compile_block
"""
from __future__ import annotations

import statistics
import time

import torch

from core.training.switch_config import switch_base_config


def main() -> None:
    from transformers import SwitchTransformersForConditionalGeneration

    torch.manual_seed(0)
    config = switch_base_config(8)
    block = SwitchTransformersForConditionalGeneration(config).eval().encoder.block[1]  # attention + router + experts
    x = torch.randn(32, 40, config.d_model)

    def timed(f) -> float:
        with torch.inference_mode():
            t = time.perf_counter()
            f(x)
            return time.perf_counter() - t

    started = time.perf_counter()
    compiled = torch.compile(block, dynamic=False)
    timed(compiled)
    compile_s = time.perf_counter() - started
    eager_s, compiled_s = [], []
    for _ in range(6):
        eager_s.append(timed(block))
        compiled_s.append(timed(compiled))
    with torch.inference_mode():
        diff = (block(x)[0] - compiled(x)[0]).abs().max().item()
    e, c = statistics.median(eager_s), statistics.median(compiled_s)
    print(f"sparse encoder block, 32x40 tokens, fp32: eager {e * 1e3:.0f} ms, compiled {c * 1e3:.0f} ms "
          f"({e / c:.2f}x), compile {compile_s:.0f} s, max |difference| {diff:.1e}")


if __name__ == "__main__":
    main()
