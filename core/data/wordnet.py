"""Offline NLTK data: WordNet 3.0 from Debian's wordnet-base plus the shared `lexnames`, and the
NLTK corpora of the data directory. NLTK refuses paths outside its data root, so files are copied under
`cache/nltk_data/` and NLTK is pointed there."""
from __future__ import annotations

import functools
import shutil
from pathlib import Path

from core.errors import DataError
from core.settings import cache_dir

DEBIAN_WORDNET = Path("/usr/share/wordnet")
CORPORA = ("brown", "movie_reviews", "state_union", "inaugural")


def nltk_root() -> Path:
    return cache_dir() / "nltk_data"


def _register(root: Path) -> None:
    import nltk

    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))


def wordnet_setup(data_root: Path | None = None, wordnet_src: Path = DEBIAN_WORDNET) -> Path:
    """Copy WordNet into `cache/nltk_data/corpora/wordnet/` (once) and register the NLTK data root."""
    from core.data.datadir import data_dir

    target = nltk_root() / "corpora" / "wordnet"
    if not (target / "lexnames").is_file() or not (target / "data.noun").is_file():
        if not (wordnet_src / "data.noun").is_file():
            raise DataError(
                f"WordNet 3.0 is not installed ({wordnet_src}/data.noun is missing). Install it with "
                "`apt-get install wordnet-base` (Debian/Ubuntu)."
            )
        lexnames = (data_root or data_dir()) / "wordnet" / "lexnames"
        if not lexnames.is_file():
            raise DataError(f"WordNet's lexnames file is missing: expected {lexnames}.")
        target.mkdir(parents=True, exist_ok=True)
        for f in wordnet_src.iterdir():
            if f.is_file():
                shutil.copy2(f, target / f.name)
        shutil.copy2(lexnames, target / "lexnames")
    _register(nltk_root())
    return target


@functools.cache
def wordnet(data_root: Path | None = None):
    """The NLTK WordNet reader over the offline copy (set up from `data_root` if not copied yet)."""
    wordnet_setup(data_root)
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class OfflineWordNet(WordNetCorpusReader):
        """Skips the WordNet-version mapping, which only serves the multilingual (OMW) functions and needs
        `index.sense`, a file wordnet-base does not ship."""

        def map_wn(self, version: str = "wordnet") -> None:
            return None

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return OfflineWordNet(str(nltk_root() / "corpora" / "wordnet"), None)


_SENSES: dict[str, list[int]] = {}  # "lemma|pos" -> [lemma-exact senses of that part of speech, all senses]
WIC_POS = {"N": "n", "V": "v"}


def _senses_file() -> Path:
    return cache_dir() / "wordnet_senses_v2.json"


def count_senses(wn, lemma: str, pos: str) -> tuple[int, int]:
    """(synsets of the WiC part of speech whose lemma names include `lemma` itself, all synsets of any part of
    speech). The second is `len(wordnet.synsets(lemma))`, which also reaches base forms ("drawing" → "draw") and
    every part of speech."""
    key = lemma.lower().replace(" ", "_")
    strict = [s for s in wn.synsets(lemma, pos=WIC_POS.get(pos.upper()))
              if any(name.lower() == key for name in s.lemma_names())]
    return len(strict), len(wn.synsets(lemma))


def sense_counts(targets, data_root: Path | None = None) -> dict[tuple[str, str], tuple[int, int]]:
    """`count_senses` of each (lemma, WiC part of speech), as docs/definitions.md defines senses.

    Counts are kept in `cache/wordnet_senses_v2.json` (written once per call that adds any), so a warm re-run
    does not load WordNet (3 s)."""
    import json

    targets = list(dict.fromkeys((str(lemma), str(pos)) for lemma, pos in targets))
    if not _SENSES and _senses_file().is_file():
        try:
            _SENSES.update(json.loads(_senses_file().read_text()))
        except (OSError, ValueError):
            pass
    missing = [t for t in targets if "|".join(t) not in _SENSES]
    if missing:
        wn = wordnet(data_root)
        _SENSES.update({"|".join(t): list(count_senses(wn, *t)) for t in missing})
        tmp = _senses_file().with_suffix(".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(_SENSES))
        tmp.replace(_senses_file())
    return {t: tuple(_SENSES["|".join(t)]) for t in targets}


def corpora_setup(data_root: Path | None = None) -> Path:
    """Copy the shared NLTK corpus zips under `cache/nltk_data/corpora/` and register the root."""
    from core.data.datadir import data_dir

    src = (data_root or data_dir()) / "nltk_corpora"
    target = nltk_root() / "corpora"
    target.mkdir(parents=True, exist_ok=True)
    for name in CORPORA:
        zip_src = src / f"{name}.zip"
        if not zip_src.is_file():
            raise DataError(f"NLTK corpus {zip_src} is missing.")
        if not (target / f"{name}.zip").is_file():
            shutil.copy2(zip_src, target / f"{name}.zip")
    _register(nltk_root())
    return target
