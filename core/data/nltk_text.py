"""The one reader of the shared NLTK corpora: sentences for the demo trainers (with WordNet glosses and examples),
documents with their domains for the corpus command."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from core.data.wordnet import corpora_setup, wordnet

SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
NLTK_SOURCES = ("brown", "movie_reviews", "state_union", "inaugural")
SOURCES = (*NLTK_SOURCES, "wordnet")  # what the demo trainers can read


def reader(name: str, data_root: Path | None = None):
    """The NLTK corpus reader of `name`, after pointing NLTK at the data folder (core.data.wordnet.corpora_setup)."""
    corpora_setup(data_root)
    import nltk.corpus

    return getattr(nltk.corpus, name)


def _raw_sentences(corpus) -> Iterator[str]:
    for fid in corpus.fileids():
        for para in re.split(r"\n\s*\n|\n(?=[A-Z])", corpus.raw(fid)):
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
    corpus = reader(source, data_root)
    if source == "brown":
        for sent in corpus.sents():
            yield " ".join(sent)
    elif source == "movie_reviews":
        for fid in corpus.fileids():
            for line in corpus.raw(fid).splitlines():
                if len(line.split()) >= 3:
                    yield line.strip()
    else:
        yield from _raw_sentences(corpus)


def documents(name: str, data_root: Path | None = None) -> Iterator[tuple[str, str, str]]:
    """(file id, domain, text) of an NLTK corpus: Brown's 15 categories, the reviews' polarity, the speeches'
    decade."""
    corpus = reader(name, data_root)
    for fid in corpus.fileids():
        if name == "brown":
            text = " ".join(" ".join(s) for s in corpus.sents(fid))
            yield fid, corpus.categories(fid)[0], text
        elif name == "movie_reviews":
            yield fid, fid.split("/")[0], corpus.raw(fid)
        else:  # state_union, inaugural: "1945-Truman.txt" → domain "1940s"
            year = fid[:4]
            yield fid, f"{year[:3]}0s" if year.isdigit() else "speech", corpus.raw(fid)
