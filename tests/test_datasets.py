"""Loaders on the real shared files, and on damaged copies."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.data import datasets
from core.data.datadir import data_dir
from core.errors import DataError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def root() -> Path:
    if not (SHARED / "wic").is_dir():
        pytest.fail(f"The benchmark data is missing: expected it in {SHARED} (../shared/data beside the repository).")
    return SHARED


def test_row_counts_and_types(root):
    ws, sl = datasets.load_wordsim353(root), datasets.load_simlex999(root)
    scws, wic = datasets.load_scws(root), datasets.load_wic(root)
    assert len(ws) == 353 and len(sl) == 999 and len(scws) == 2003
    assert wic.groupby("split").size().to_dict() == {"train": 5428, "dev": 638, "test": 1400}
    assert ws.score.dtype == float and ws.score.between(0, 10).all()
    assert set(sl.pos) == {"A", "N", "V"} and sl.score.between(0, 10).all()
    assert scws.score.between(0, 10).all()
    assert wic.label.dtype == bool
    for _split, g in wic.groupby("split"):
        assert g.label.sum() == len(g) // 2  # balanced T/F, as SOURCE.md states
    assert len(datasets.load_wordsim353(root, "sim")) == 203 and len(datasets.load_wordsim353(root, "rel")) == 252


def test_scws_spans_point_at_the_target(root):
    scws = datasets.load_scws(root)
    for k in (1, 2):
        marked = [c[s:e] for c, s, e in zip(scws[f"context{k}"], scws[f"start{k}"], scws[f"end{k}"])]
        assert [m.lower() for m in marked] == [w.lower() for w in scws[f"word{k}"]]
    assert not scws.context1.str.contains("<b>").any()


def test_wic_indices_point_at_the_target(root):
    """The indexed word is the lemma or an inflection of it (WordNet's morphy handles went → go)."""
    from core.data.wordnet import wordnet

    wn = wordnet()
    wic = datasets.load_wic(root)
    exceptions = []
    for k in (1, 2):
        for s, i, lemma, pos in zip(wic[f"sentence{k}"], wic[f"idx{k}"], wic.lemma, wic.pos):
            w = s.split()[i].lower()
            if w.startswith(lemma[:2].lower()) or lemma.lower() in wn._morphy(w, "v" if pos == "V" else "n"):
                continue
            exceptions.append((k, lemma, w))
    # Two genuine oddities of the data, checked by hand: "call" marked on "round" in "call round",
    # and "have" on the contraction "'ve". Anything else would be a misalignment.
    assert sorted(exceptions) == [(1, "call", "round"), (2, "have", "'ve")]


def test_missing_file_and_checksum(tmp_path, root):
    with pytest.raises(DataError, match="Missing data file"):
        datasets.load_simlex999(tmp_path)
    shutil.copytree(root / "simlex999", tmp_path / "simlex999")
    with open(tmp_path / "simlex999" / "SimLex-999.txt", "a") as f:
        f.write("extra\tline\tN\t1.0\n")
    with pytest.raises(DataError, match="sha256"):
        datasets.load_simlex999(tmp_path)


def test_truncated_and_malformed_lines_name_file_and_line(tmp_path, root):
    (tmp_path / "wic" / "dev").mkdir(parents=True)
    lines = (root / "wic" / "dev" / "dev.data.txt").read_text().splitlines()
    gold = (root / "wic" / "dev" / "dev.gold.txt").read_text().splitlines()
    bad = lines[:5] + ["board\tN\t2-2\tRoom and board ."] + lines[6:10]  # truncated line: a field missing
    (tmp_path / "wic" / "dev" / "dev.data.txt").write_text("\n".join(bad) + "\n")
    (tmp_path / "wic" / "dev" / "dev.gold.txt").write_text("\n".join(gold[:10]) + "\n")
    with pytest.raises(DataError, match=r"dev.data.txt, line 6: expected 5"):
        datasets.load_wic(tmp_path, splits=("dev",))
    (tmp_path / "wic" / "dev" / "dev.gold.txt").write_text("\n".join(gold[:7]) + "\n")  # truncated gold file
    with pytest.raises(DataError, match="must align"):
        datasets.load_wic(tmp_path, splits=("dev",))
    (tmp_path / "wordsim353").mkdir()
    (tmp_path / "wordsim353" / "combined.csv").write_text("Word 1,Word 2,Human (mean)\nlove,sex,6.77\ntiger,cat\n")
    with pytest.raises(DataError, match=r"combined.csv, line 3"):
        datasets.load_wordsim353(tmp_path)


def test_data_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTING_LENS_DATA", str(tmp_path))
    assert data_dir() == tmp_path
    assert data_dir(tmp_path / ".") == tmp_path / "."
    monkeypatch.setenv("ROUTING_LENS_DATA", str(tmp_path / "nope"))
    with pytest.raises(DataError, match="does not exist"):
        data_dir()


def test_download_extracts_the_loader_layout(tmp_path, root):
    """The download command's unpacking, on a zip built from the shared copies (no network here)."""
    import io
    import zipfile

    from core.data.download import SOURCES, extract

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for split in ("train", "dev", "test"):
            for kind in ("data", "gold"):
                z.write(root / "wic" / split / f"{split}.{kind}.txt", f"WiC_dataset/{split}/{split}.{kind}.txt")
    extract(buf.getvalue(), SOURCES["wic"][1], tmp_path / "wic")
    assert len(datasets.load_wic(tmp_path)) == 7466
