"""What a saved result is, as data: its models and revisions, precision, rows per dataset, seed, decoder reading,
whether the sensitivity table was computed, and the library versions — run.json beside the outputs, written by
every run. Pages and labels read this, never the human-readable notes."""
from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

FILE = "run.json"
VERSIONED = ("torch", "transformers", "scipy", "numpy", "pandas")


def versions() -> dict[str, str]:
    from core.version import __version__

    found = {"routing-lens": __version__}
    for package in VERSIONED:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


@dataclass(frozen=True)
class RunInfo:
    models: list[str]
    revisions: list[str]
    dtypes: list[str]
    limit: int | None  # rows per dataset; None = the full datasets
    seed: int = 0
    decoder_read: str = "input"
    sensitivity: bool = False
    versions: dict[str, str] = field(default_factory=versions)
    created: str = field(default_factory=lambda: datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    controls: bool = False  # reproduce --controls: the router-or-representation controls were computed
    swap: bool = False  # reproduce --swap: the swap study (does context-dependent routing matter?) was run

    @property
    def subsample(self) -> bool:
        return self.limit is not None

    def rows(self) -> str:
        return f"{self.limit} rows per dataset" if self.subsample else "full data"

    def save(self, folder: Path) -> None:
        (folder / FILE).write_text(json.dumps(asdict(self), indent=1, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> RunInfo | None:
        """The run's metadata; None for a result saved before run.json existed (or an unreadable one)."""
        try:
            return cls(**json.loads((folder / FILE).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
