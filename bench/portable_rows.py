"""Building and reading portable-trace rows at the size of WiC (10,049 texts of 8–30 tokens, 6 layers, top-8 of 16,
with distributions): `from_arrays` (per-text arrays → rows) and `id_arrays` (rows → per-text arrays), timed.

    python -m bench.portable_rows
"""
from __future__ import annotations

import time

import numpy as np

from core.tracing.portable import TraceMeta, from_arrays, id_arrays

TEXTS, LAYERS, EXPERTS, TOP_K = 10_049, 6, 16, 8


def main() -> None:
    rng = np.random.default_rng(0)
    ids = [rng.integers(0, EXPERTS, size=(int(rng.integers(8, 30)), LAYERS, TOP_K)) for _ in range(TEXTS)]
    probs = [rng.random((a.shape[0], LAYERS, EXPERTS)).astype(np.float32) for a in ids]
    meta = TraceMeta(model_id="bench", source="routing-lens", holds="distributions", num_experts=EXPERTS,
                     top_k=TOP_K, layers={"encoder": list(range(LAYERS))}, texts=[""] * TEXTS)
    started = time.perf_counter()
    frame = from_arrays(ids, meta, "encoder", probs=probs)
    built = time.perf_counter() - started
    started = time.perf_counter()
    back = id_arrays(frame, "encoder")
    read = time.perf_counter() - started
    assert all(np.array_equal(back[i], ids[i]) for i in range(TEXTS))
    print(f"from_arrays {built:.1f} s, id_arrays {read:.1f} s, rows {len(frame):,}")


if __name__ == "__main__":
    main()
