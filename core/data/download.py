"""`python -m core datasets download`: fetch the four benchmarks from their official pages into
cache/datasets/, in the layout the loaders read. Needs internet (not available on the build machines)."""
from __future__ import annotations

import io
import shutil
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

from core.errors import DataError
from core.settings import cache_dir

# dataset folder -> (official archive, {member suffix in the zip: path under the dataset folder})
SOURCES = {
    "wordsim353": ("http://www.cs.technion.ac.il/~gabr/resources/data/wordsim353/wordsim353.zip",
                   {"combined.csv": "combined.csv"}),
    "simlex999": ("https://fh295.github.io/SimLex-999.zip", {"SimLex-999.txt": "SimLex-999.txt"}),
    "scws": ("http://www-nlp.stanford.edu/~ehhuang/SCWS.zip", {"ratings.txt": "ratings.txt"}),
    "wic": ("https://pilehvar.github.io/wic/package/WiC_dataset.zip",
            {f"{s}/{s}.{k}.txt": f"{s}/{s}.{k}.txt" for s in ("train", "dev", "test") for k in ("data", "gold")}),
}


def extract(archive: bytes, members: dict[str, str], target: Path) -> list[Path]:
    """Copy the wanted members (matched by path suffix) of a zip into `target`."""
    written = []
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        names = z.namelist()
        for suffix, dest in members.items():
            match = [n for n in names if n.endswith(suffix)]
            if not match:
                raise DataError(f"The downloaded archive has no file ending in {suffix!r}.")
            path = target / dest
            path.parent.mkdir(parents=True, exist_ok=True)
            with z.open(match[0]) as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
            written.append(path)
    return written


def download_all(root: Path | None = None, timeout: float = 60.0) -> Iterator[str]:
    root = root or cache_dir() / "datasets"
    for name, (url, members) in SOURCES.items():
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - fixed https/http URLs above
                data = resp.read()
        except OSError as err:
            raise DataError(f"Could not download {name} from {url} ({err}). Check the internet connection, or "
                            "point --data-dir at a folder that holds the datasets.") from None
        paths = extract(data, members, root / name)
        yield f"{name}: {', '.join(str(p) for p in paths)}"
