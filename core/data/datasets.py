"""Benchmark loaders: WordSim353, SimLex-999, SCWS, WiC → pandas frames with documented columns.

Every file is checked (exists; sha256 where SOURCE.md gives one). A malformed line is an error naming
the file and line; a row whose target cannot be located is counted and reported, never dropped silently.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.data.datadir import checked_file, data_dir
from core.errors import DataError

WIC_SPLITS = ("train", "dev", "test")


@dataclass
class LoadReport:
    """What a loader skipped or found odd, for the user to see."""

    dataset: str
    rows: int = 0
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        s = f"{self.dataset}: {self.rows} rows"
        return s + (f", {len(self.skipped)} skipped ({'; '.join(self.skipped[:3])}…)" if self.skipped else "")


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not valid UTF-8 ({err}).") from None
    return text.splitlines()


def _fields(path: Path, lineno: int, line: str, n: int, sep: str = "\t") -> list[str]:
    parts = line.split(sep)
    if len(parts) < n:
        raise DataError(f"{path}, line {lineno}: expected {n} {'tab-separated ' if sep == chr(9) else ''}fields, "
                        f"found {len(parts)}. The file is malformed or truncated.")
    return parts


def _float(path: Path, lineno: int, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise DataError(f"{path}, line {lineno}: {value!r} is not a number.") from None


def load_wordsim353(root: Path | None = None, split: str = "combined") -> pd.DataFrame:
    """Columns: word1, word2, score (human mean, 0–10). `split`: combined (353), sim (203) or rel (252)."""
    root = data_dir(root)
    if split == "combined":
        path = checked_file(root, "wordsim353", "combined.csv")
        rows = []
        reader = csv.reader(_lines(path))  # _lines: invalid UTF-8 is a DataError, not a traceback
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path} is empty.")
        try:
            for lineno, rec in enumerate(reader, start=2):
                if len(rec) != 3:
                    raise DataError(f"{path}, line {lineno}: expected 3 comma-separated fields, found {len(rec)}.")
                rows.append((rec[0].strip(), rec[1].strip(), _float(path, lineno, rec[2])))
        except csv.Error as err:
            raise DataError(f"{path} is not valid CSV ({err}).") from None
    elif split in ("sim", "rel"):
        path = checked_file(root, "wordsim353", f"EN-WS-353-{split.upper()}.txt")
        rows = []
        for lineno, line in enumerate(_lines(path), start=1):
            if line.strip():
                w1, w2, s = _fields(path, lineno, line, 3)[:3]
                rows.append((w1.strip(), w2.strip(), _float(path, lineno, s)))
    else:
        raise DataError(f"Unknown WordSim353 split {split!r}: choose combined, sim or rel.")
    return pd.DataFrame(rows, columns=["word1", "word2", "score"])


def load_simlex999(root: Path | None = None) -> pd.DataFrame:
    """Columns: word1, word2, pos (A/N/V), score (SimLex999, 0–10)."""
    root = data_dir(root)
    path = checked_file(root, "simlex999", "SimLex-999.txt")
    lines = _lines(path)
    if not lines or not lines[0].startswith("word1"):
        raise DataError(f"{path}: missing header line (word1, word2, POS, SimLex999, …).")
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        f = _fields(path, lineno, line, 4)
        rows.append((f[0].strip(), f[1].strip(), f[2].strip(), _float(path, lineno, f[3])))
    return pd.DataFrame(rows, columns=["word1", "word2", "pos", "score"])


_MARK = re.compile(r"<b>(.*?)</b>", re.DOTALL)


def strip_markup(context: str) -> tuple[str, int, int, str]:
    """Remove the `<b> w </b>` markup; return (clean text, start, end, marked word) of the marked occurrence."""
    m = _MARK.search(context)
    if m is None:
        raise ValueError("no <b> … </b> markup")
    word = m.group(1).strip()
    before = context[: m.start()].rstrip(" ")
    after = context[m.end() :].lstrip(" ")
    before = before + " " if before else ""
    clean = before + word + (" " + after if after else "")
    start = len(before)
    return clean, start, start + len(word), word


def load_scws(root: Path | None = None, report: LoadReport | None = None) -> pd.DataFrame:
    """Columns: id, word1, pos1, word2, pos2, context1, start1, end1, context2, start2, end2, score.

    `contextK` is the context with the markup removed; [startK, endK) is the marked occurrence.
    """
    root = data_dir(root)
    path = checked_file(root, "scws", "ratings.txt")
    report = report if report is not None else LoadReport("SCWS")
    rows = []
    for lineno, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        f = _fields(path, lineno, line, 8)
        try:
            c1, s1, e1, m1 = strip_markup(f[5])
            c2, s2, e2, m2 = strip_markup(f[6])
        except ValueError:
            report.skipped.append(f"line {lineno}: no <b> markup")
            continue
        rows.append((int(f[0]), f[1], f[2], f[3], f[4], c1, s1, e1, c2, s2, e2, _float(path, lineno, f[7])))
    frame = pd.DataFrame(rows, columns=["id", "word1", "pos1", "word2", "pos2", "context1", "start1", "end1",
                                        "context2", "start2", "end2", "score"])
    report.rows = len(frame)
    return frame


def load_wic(root: Path | None = None, splits: tuple[str, ...] = WIC_SPLITS) -> pd.DataFrame:
    """Columns: split, lemma, pos, idx1, idx2 (whitespace-token indices), sentence1, sentence2, label (True = same)."""
    root = data_dir(root)
    frames = []
    for split in splits:
        if split not in WIC_SPLITS:
            raise DataError(f"Unknown WiC split {split!r}: choose from {', '.join(WIC_SPLITS)}.")
        data = checked_file(root, "wic", f"{split}/{split}.data.txt")
        gold = checked_file(root, "wic", f"{split}/{split}.gold.txt")
        data_lines = [line for line in _lines(data) if line.strip()]
        gold_lines = [line.strip() for line in _lines(gold) if line.strip()]
        if len(data_lines) != len(gold_lines):
            raise DataError(f"{data} has {len(data_lines)} lines but {gold} has {len(gold_lines)}: they must align.")
        rows = []
        for lineno, (line, label) in enumerate(zip(data_lines, gold_lines), start=1):
            f = _fields(data, lineno, line, 5)
            try:
                i1, i2 = (int(x) for x in f[2].split("-"))
            except ValueError:
                raise DataError(f"{data}, line {lineno}: index field {f[2]!r} is not 'i-j'.") from None
            if label not in ("T", "F"):
                raise DataError(f"{gold}, line {lineno}: label {label!r} is not T or F.")
            if i1 >= len(f[3].split()) or i2 >= len(f[4].split()):
                raise DataError(f"{data}, line {lineno}: target index beyond the sentence.")
            rows.append((split, f[0], f[1], i1, i2, f[3], f[4], label == "T"))
        frames.append(pd.DataFrame(rows, columns=["split", "lemma", "pos", "idx1", "idx2", "sentence1", "sentence2",
                                                  "label"]))
    return pd.concat(frames, ignore_index=True)
