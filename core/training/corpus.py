"""Training text for the demo models: the shared NLTK corpora and WordNet glosses and examples."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from core.analysis.wordnet import corpora_setup, wordnet

SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
SOURCES = ("brown", "movie_reviews", "state_union", "inaugural", "wordnet")


def _raw_sentences(reader) -> Iterator[str]:
    for fid in reader.fileids():
        for para in re.split(r"\n\s*\n|\n(?=[A-Z])", reader.raw(fid)):
            para = " ".join(para.split())
            for sent in SENT_SPLIT.split(para):
                if len(sent.split()) >= 3:
                    yield sent


def sentences(source: str, data_root: Path | None = None) -> Iterator[str]:
    """Sentences of one source, in corpus order (deterministic)."""
    if source == "wordnet":
        wn = wordnet()
        for synset in wn.all_synsets():
            lemma = synset.lemmas()[0].name().replace("_", " ")
            yield f"{lemma}: {synset.definition()}"
            yield from synset.examples()
        return
    corpora_setup(data_root)
    import nltk.corpus

    reader = getattr(nltk.corpus, source)
    if source == "brown":
        for sent in reader.sents():
            yield " ".join(sent)
    elif source == "movie_reviews":
        for fid in reader.fileids():
            for line in reader.raw(fid).splitlines():
                if len(line.split()) >= 3:
                    yield line.strip()
    else:
        yield from _raw_sentences(reader)
