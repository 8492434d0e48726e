"""Where the benchmark data lives: a flag, an environment variable, or the defaults."""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from core.errors import DataError
from core.settings import DATA_ENV as ENV_VAR
from core.settings import REPO_ROOT, cache_dir

DATASETS = ("wordsim353", "simlex999", "scws", "wic")


def candidates() -> list[Path]:
    return [cache_dir() / "datasets", REPO_ROOT.parent / "shared" / "data"]


def data_dir(explicit: str | Path | None = None) -> Path:
    """`explicit` (CLI flag) > $ROUTING_LENS_DATA > cache/datasets/ > ../shared/data (first that has data)."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_dir():
            raise DataError(f"Data directory {path} does not exist.")
        return path
    if os.environ.get(ENV_VAR):
        path = Path(os.environ[ENV_VAR]).expanduser()
        if not path.is_dir():
            raise DataError(f"${ENV_VAR} points at {path}, which does not exist.")
        return path
    for path in candidates():
        if any((path / name).is_dir() for name in DATASETS):
            return path
    raise DataError(
        "No benchmark data found. Put the datasets in cache/datasets/ (`python -m core datasets download` on a "
        f"machine with internet), pass --data-dir, or set ${ENV_VAR}. Looked in: "
        + ", ".join(str(p) for p in candidates())
    )


def published_sha256(folder: Path) -> dict[str, str]:
    """File name → sha256 from the folder's SOURCE.md table, where it gives one."""
    source = folder / "SOURCE.md"
    if not source.is_file():
        return {}
    out = {}
    for line in source.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\|\s*`([^`]+)`\s*\|.*`([0-9a-f]{64})`\s*\|\s*$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def checked_file(root: Path, dataset: str, name: str, verify: bool = True) -> Path:
    """Path of a data file, after checking it exists and (where SOURCE.md gives one) its sha256."""
    path = root / dataset / name
    if not path.is_file():
        raise DataError(f"Missing data file {path}. Check the data directory ({root}) or download the datasets.")
    if verify:
        expected = published_sha256(root / dataset).get(name)
        if expected and sha256_file(path) != expected:
            raise DataError(
                f"{path} does not match the sha256 in {root / dataset / 'SOURCE.md'}: the file is damaged or a "
                "different version. Replace it with the original."
            )
    return path
