"""On-disk cache of traces: checksummed files written atomically, so a crash or a second process
can never leave a half-written entry that is later read as valid. The payload is safetensors."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

from core.settings import cache_dir
from core.tracing.routing_trace import RoutingTrace
from core.types import Stack

log = logging.getLogger(__name__)
MAGIC = b"RLTRACE4"
FORMAT_VERSION = 4  # bump when the meaning or format of a trace changes, so old entries are not reused


def library_versions() -> str:
    """The libraries whose version can change a trace (routing and drops changed between transformers 4 and 5)."""
    import torch
    import transformers

    return f"transformers=={transformers.__version__};torch=={torch.__version__}"


def trace_key(model: str, revision: str, dtype: str, text: str, stacks: tuple[Stack, ...], max_tokens: int,
              libraries: str | None = None) -> str:
    """Stable key of everything that determines a trace; `libraries` defaults to the running versions."""
    payload = json.dumps(
        {"v": FORMAT_VERSION, "model": model, "rev": revision, "dtype": dtype, "text": text,
         "stacks": sorted(stacks), "max_tokens": max_tokens,
         "libraries": library_versions() if libraries is None else libraries},
        sort_keys=True, ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class TraceCache:
    """Traces under `<cache>/traces/<k[:2]>/<k>.rlt`: MAGIC + sha256(payload) + payload (safetensors bytes)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_dir() / "traces"
        self.discarded = 0  # corrupt entries found and removed (for tests and reports)
        self.failed_writes = 0  # entries that could not be written (disk full, read-only, permissions)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.rlt"

    def get(self, key: str) -> RoutingTrace | None:
        """The cached trace, or None when absent; a corrupt entry is deleted and counts as absent."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        header = len(MAGIC) + 32
        if len(data) > header and data[: len(MAGIC)] == MAGIC:
            payload = data[header:]
            if hashlib.sha256(payload).digest() == data[len(MAGIC) : header]:
                try:
                    return RoutingTrace.from_bytes(payload)
                except Exception:  # noqa: BLE001 - checksum passed but content unreadable: treat as corrupt
                    pass
        self.discarded += 1
        path.unlink(missing_ok=True)
        return None

    def put(self, key: str, trace: RoutingTrace) -> None:
        """Store a trace. The cache only saves time: a write that fails (disk full, read-only, no permission) is
        logged once per cache and the caller keeps its result."""
        try:
            self._write(key, trace)
        except OSError as err:
            if not self.failed_writes:
                log.warning("trace cache: could not write to %s (%s); results are returned but not cached",
                            self.root, err.strerror or err)
            self.failed_writes += 1

    def _write(self, key: str, trace: RoutingTrace) -> None:
        payload = trace.to_bytes()
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".rlt")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC + hashlib.sha256(payload).digest() + payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
