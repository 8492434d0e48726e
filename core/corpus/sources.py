"""Where a corpus run's documents come from: the bundled NLTK corpora (with their categories as domains), a text,
JSONL or Parquet file with an optional `domain` column, or a Hugging Face dataset id (users with the Hub).

Documents are cut into segments of whole sentences (at most SEGMENT_WORDS words) so that none is truncated by
the tracer; a segment is the unit of tracing, of sharding and of the `doc` column."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.data.nltk_text import NLTK_SOURCES
from core.data.nltk_text import documents as nltk_documents
from core.errors import DataError, InputError

SEGMENT_WORDS = 120
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Segment:
    doc: int  # running index over the corpus, in source order
    source: str  # the source document (a corpus file id, a line number, a row)
    domain: str
    text: str


def _segments(text: str, limit: int = SEGMENT_WORDS) -> Iterator[str]:
    """Whole sentences packed up to `limit` words; a longer sentence is cut at `limit` words."""
    current: list[str] = []
    for sentence in SENTENCE_END.split(" ".join(text.split())):
        words = sentence.split()
        while len(words) > limit:
            if current:
                yield " ".join(current)
                current = []
            yield " ".join(words[:limit])
            words = words[limit:]
        if current and len(current) + len(words) > limit:
            yield " ".join(current)
            current = []
        current += words
    if current:
        yield " ".join(current)


SUFFIXES = (".txt", ".text", ".jsonl", ".json", ".parquet")


def check_source(source: str) -> None:
    """Fail fast, before any model loads or folder is made, on a corpus that cannot be read: an unknown NLTK name, a
    file that does not exist, has another suffix, is empty, or is not text. Messages name the path as typed."""
    if source.startswith("nltk:"):
        if source.split(":", 1)[1] not in NLTK_SOURCES:
            raise InputError(f"Unknown NLTK corpus {source!r}: choose one of "
                             f"{', '.join('nltk:' + s for s in NLTK_SOURCES)}.")
        return
    if source.startswith("hf:"):
        return
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"{source}: no such corpus file. Give a .txt (one document per line), .jsonl or .parquet file "
                         f"with a `text` column, or one of: {', '.join('nltk:' + s for s in NLTK_SOURCES)}.")
    if not path.is_file() or path.suffix.lower() not in SUFFIXES:
        raise InputError(f"{source}: corpus files are .txt, .jsonl or .parquet.")
    if path.stat().st_size == 0:
        raise InputError(f"{source} is empty: there is no text to route.")
    if path.suffix.lower() != ".parquet":
        with path.open("rb") as f:
            head = f.read(65536)
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as err:
            if err.start < len(head) - 4:  # not merely a character cut at the end of the sample
                raise InputError(f"{source} is not UTF-8 text (a binary file?): give a text corpus.") from None
        if b"\x00" in head:
            raise InputError(f"{source} is not a text file (it holds NUL bytes): give a text corpus.")
        if not head.strip():
            raise InputError(f"{source} holds only blank lines: there is no text to route.")


def _file_documents(path: Path) -> Iterator[tuple[str, str, str]]:
    if not path.is_file():
        raise InputError(f"{path.name}: no such corpus file. Give a .txt (one document per line), .jsonl or .parquet "
                         f"file with a `text` column, or one of: {', '.join('nltk:' + s for s in NLTK_SOURCES)}.")
    suffix = path.suffix.lower()
    if suffix in (".txt", ".text"):
        for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines()):
            if line.strip():
                yield f"line {i + 1}", "", line
    elif suffix in (".jsonl", ".json"):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                text = record["text"]
            except (ValueError, KeyError, TypeError):
                raise DataError(f"{path.name}, line {i + 1}: not a JSON object with a `text` field.") from None
            if not isinstance(text, str):
                raise DataError(f"{path.name}, line {i + 1}: `text` is a {type(text).__name__}, not a string.")
            yield str(record.get("id", f"line {i + 1}")), str(record.get("domain", "") or ""), str(text)
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        if "text" not in table.column_names:
            raise DataError(f"{path.name} has no `text` column (columns: {', '.join(table.column_names)}).")
        domains = table.column("domain").to_pylist() if "domain" in table.column_names else [""] * len(table)
        for i, (text, domain) in enumerate(zip(table.column("text").to_pylist(), domains)):
            if text:
                yield f"row {i}", str(domain or ""), str(text)
    else:
        raise InputError(f"{path.name}: corpus files are .txt, .jsonl or .parquet.")


def _hub_documents(dataset: str, split: str = "train") -> Iterator[tuple[str, str, str]]:
    try:
        import datasets
    except ImportError:
        raise InputError("Reading a Hugging Face dataset needs the `datasets` package (pip install datasets) and "
                         "the Hub; or export it to a .jsonl/.parquet file and pass that.") from None
    try:
        rows = datasets.load_dataset(dataset, split=split, streaming=True)
    except Exception as err:  # noqa: BLE001 - the Hub's errors are many; say which dataset and why
        raise DataError(f"Could not open the Hub dataset {dataset!r} ({type(err).__name__}): check the id and that "
                        "the Hub is reachable.") from None
    for i, row in enumerate(rows):
        text = row.get("text")
        if text:
            yield str(row.get("id", f"row {i}")), str(row.get("domain", row.get("label", "")) or ""), str(text)


def documents(source: str, data_root: Path | None = None) -> Iterator[tuple[str, str, str]]:
    """(source document id, domain, text) for `nltk:<name>`, `hf:<dataset id>` or a file path."""
    if source.startswith("nltk:"):
        name = source.split(":", 1)[1]
        if name not in NLTK_SOURCES:
            raise InputError(f"Unknown NLTK corpus {name!r}: choose one of {', '.join(NLTK_SOURCES)}.")
        return nltk_documents(name, data_root)
    if source.startswith("hf:"):
        return _hub_documents(source.split(":", 1)[1])
    return _file_documents(Path(source).expanduser())


def segments(source: str, data_root: Path | None = None, max_words: int | None = None, every: int = 1
             ) -> Iterator[Segment]:
    """The corpus as segments, in source order; `every` keeps every n-th segment (a systematic sample, deterministic
    so a resumed run sees the same segments); `max_words` stops after about that many words."""
    if every < 1:
        raise InputError("--every must be 1 or more.")
    words = kept = 0
    index = 0
    for source_id, domain, text in documents(source, data_root):
        for segment in _segments(text):
            if index % every == 0:
                yield Segment(kept, source_id, domain, segment)
                kept += 1
                words += len(segment.split())
                if max_words is not None and words >= max_words:
                    return
            index += 1
