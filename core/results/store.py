"""`Results`: every output of a reproduction as frames, saved as the CSVs the CLI writes and read back by the app."""
from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
from pyarrow.lib import ArrowException

from core.errors import DataError
from core.results.across_models import comparison_frame
from core.results.bundled import is_bundled
from core.results.run_info import RunInfo

ResultFormat = Literal["csv", "parquet"]
SUFFIXES: dict[ResultFormat, str] = {"csv": ".csv", "parquet": ".parquet"}


@dataclass(frozen=True)
class Note:
    """A line of a result's notes; `caveat` ones must be read beside the numbers (the page shows them as warnings)."""

    text: str
    caveat: bool = False


@dataclass
class Results:
    models: pd.DataFrame
    table1: pd.DataFrame
    table2: pd.DataFrame
    wic_pairs: pd.DataFrame
    wic_kde: pd.DataFrame
    cohens_d: pd.DataFrame
    polysemy: pd.DataFrame
    polysemy_trend: pd.DataFrame
    notes: list[Note] = field(default_factory=list)
    # Table 2's context gain with its paired bootstrap CI and p (results saved before it existed have none)
    context_gain: pd.DataFrame = field(default_factory=pd.DataFrame)
    # share of dropped token-layer slots per text set, stack and layer (likewise absent from older results)
    dropped: pd.DataFrame = field(default_factory=pd.DataFrame)
    # Tables 1–2 per sparse layer, beside the stack means of table1/table2
    layer_rho: pd.DataFrame = field(default_factory=pd.DataFrame)
    # per family with ≥ 3 expert counts: Spearman ρ of each headline number over the expert count
    expert_trend: pd.DataFrame = field(default_factory=pd.DataFrame)
    # the paper's footnote 2 recomputed (identical-word SCWS pairs), and Table 2 without those pairs
    scws_footnote: pd.DataFrame = field(default_factory=pd.DataFrame)
    scws_different: pd.DataFrame = field(default_factory=pd.DataFrame)
    # each paper claim per model and stack: supported or not, how strongly (core.studies.claims)
    claims: pd.DataFrame = field(default_factory=pd.DataFrame)
    # every headline number under each alternative open choice (reproduce --sensitivity)
    sensitivity: pd.DataFrame = field(default_factory=pd.DataFrame)
    # router or representation (reproduce --controls, core.studies.controls): per model, stack and layer; SCWS;
    # and per WiC pair
    controls: pd.DataFrame = field(default_factory=pd.DataFrame)
    controls_scws: pd.DataFrame = field(default_factory=pd.DataFrame)
    controls_pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    # does context-dependent routing matter? (reproduce --swap, core.studies.swap): per model, stack and layer; per pair
    swap: pd.DataFrame = field(default_factory=pd.DataFrame)
    swap_pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    # the paper's open questions (reproduce --open-questions, core.lens.open_questions): negation and multi-word
    # expressions per model, stack and layer; word frequency beside polysemy per model and stack
    probes: pd.DataFrame = field(default_factory=pd.DataFrame)
    frequency: pd.DataFrame = field(default_factory=pd.DataFrame)
    # what the run was (run.json); None for results saved before it existed
    run_info: RunInfo | None = None

    FILES = ("models", "table1", "table2", "wic_pairs", "wic_kde", "cohens_d", "polysemy", "polysemy_trend")
    OPTIONAL_FILES = ("context_gain", "dropped", "layer_rho", "expert_trend", "scws_footnote", "scws_different",
                      "claims", "sensitivity", "controls", "controls_scws", "controls_pairs", "swap", "swap_pairs",
                      "probes", "frequency")

    def save(self, out: Path, fmt: ResultFormat = "csv") -> None:
        """CSVs (what users open in a spreadsheet), or Parquet (zstd: the compact form the bundled results ship in;
        no comparison.csv, which is derived)."""
        out.mkdir(parents=True, exist_ok=True)
        for name in (*self.FILES, *self.OPTIONAL_FILES):
            frame = getattr(self, name)
            for ext in SUFFIXES.values():  # none left from an earlier run in another format or with more outputs
                (out / f"{name}{ext}").unlink(missing_ok=True)
            if not (name in self.FILES or len(frame.columns)):
                continue  # never computed (no --sensitivity): no file
            if fmt == "parquet":
                frame.to_parquet(out / f"{name}.parquet", index=False, compression="zstd")
            else:
                frame.to_csv(out / f"{name}.csv", index=False)
        if fmt == "csv":
            self.comparison.to_csv(out / "comparison.csv", index=False)  # derived; recomputed on load
        (out / "notes.txt").write_text("".join(n.text + "\n" for n in self.notes), encoding="utf-8")
        if self.run_info is not None:
            self.run_info.save(out)
        (out / "notes.json").write_text(json.dumps([asdict(n) for n in self.notes], ensure_ascii=False),
                                        encoding="utf-8")

    def typical_half_width(self) -> float:
        """The median half-width of Table 1's 95 % CIs: how precisely a typical ρ of this run is known (NaN: none)."""
        widths = (self.table1.ci_high - self.table1.ci_low) / 2 if len(self.table1) else pd.Series(dtype=float)
        return float(widths.median()) if len(widths) else float("nan")

    @functools.cached_property
    def comparison(self) -> pd.DataFrame:
        """Derived from the frames above once (save, report and page all read it)."""
        return comparison_frame(self)

    @classmethod
    def load(cls, folder: Path) -> Results:
        """From CSVs or Parquet files (whichever each output was saved as)."""
        missing = [n for n in cls.FILES if _output_file(folder, n) is None]
        if missing:
            raise DataError(f"{folder.name} is not a complete result folder: missing "
                            f"{', '.join(m + '.csv' for m in missing)}.")
        try:
            frames = {n: _read(path) for n in (*cls.FILES, *cls.OPTIONAL_FILES)
                      if (path := _output_file(folder, n)) is not None}
            results = cls(**frames, notes=read_notes(folder), run_info=RunInfo.load(folder))
            results.comparison  # noqa: B018 - derived from every frame: fails here on a corrupt one, not on a page
        except (OSError, ValueError, KeyError, AttributeError, TypeError, pd.errors.ParserError,
                ArrowException) as err:
            raise DataError(f"{folder.name} is not a readable result folder (a file is corrupt or cut short: "
                            f"{type(err).__name__}).") from None
        return results


def _output_file(folder: Path, name: str) -> Path | None:
    return next((p for ext in SUFFIXES.values() if (p := folder / f"{name}{ext}").is_file()), None)


def _read(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(path, columns=columns) if path.suffix == ".parquet" else pd.read_csv(path, usecols=columns)


def read_output(folder: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """One output of a saved result (CSV or Parquet), only `columns` if given."""
    path = _output_file(folder, name)
    if path is None:
        raise FileNotFoundError(name)
    return _read(path, columns)


def has_models(folder: Path) -> bool:
    """Whether `folder` holds a saved result (its models table, in either format)."""
    return _output_file(folder, "models") is not None


def read_notes(folder: Path) -> list[Note]:
    """notes.json (typed), else the plain notes.txt of older results (all read as plain notes)."""
    try:
        return [Note(**n) for n in json.loads((folder / "notes.json").read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):
        pass
    try:
        return [Note(line) for line in (folder / "notes.txt").read_text(encoding="utf-8").splitlines()]
    except OSError:
        return []


def result_label(folder: Path) -> str:
    """How a saved result is listed: its models, precision, rows and date — from models.csv, run.json and the
    folder's time alone (never every CSV), and never the folder's hash."""
    import datetime

    try:
        models = read_output(folder, "models")
    except (OSError, ValueError, ArrowException):
        return f"{folder.name} (no models.csv)"
    dtypes = ", ".join(dict.fromkeys(map(str, models["dtype"]))) if "dtype" in models else "?"
    info = RunInfo.load(folder)
    rows = info.rows() if info else "rows not recorded"
    when = datetime.datetime.fromtimestamp(folder.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    names = [Path(m).name if Path(m).is_absolute() or m.startswith((".", "~")) else m for m in map(str, models.model)]
    if is_bundled(folder):
        sensitivity = " · with its sensitivity table" if info and info.sensitivity else ""
        return f"bundled with Routing Lens: {', '.join(names)} · {dtypes} · {rows}{sensitivity}"
    return f"{', '.join(names)} · {dtypes} · {rows} · {when}"  # a local model by its folder's name, not its path


def result_model_names(folder: Path) -> list[str]:
    """The models of a saved result, from models.csv alone."""
    try:
        return [str(m) for m in read_output(folder, "models").model]
    except (OSError, ValueError, AttributeError, ArrowException):
        return []
