"""The field's routing analyses over a corpus run, one command (`python -m core studies RUN_DIR`): OLMoE's
saturation, co-activation, vocabulary and domain specialisation (core.corpus.olmoe), Mixtral's consecutive-token
repetition (core.corpus.mixtral), OpenMoE's drops by position, context independence and early routing learning
(core.corpus.openmoe). Everything is counted by DuckDB over the shards; memory stays bounded whatever the corpus.

A checkpoint series is several corpus runs of one model over the same text: by default the runs in
RUN_DIR/checkpoints/ (what `corpus --checkpoints` writes), ordered by their fraction of training; RUN_DIR itself is
the final model.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.atomic_folder import write_folder
from core.corpus import consistency, local_consistency, mixtral, olmoe, openmoe, pathways
from core.corpus.run import CorpusSpec, read_manifest
from core.corpus.shards_sql import connect, create_rows_view, has_column
from core.errors import DataError, InputError

CHECKPOINT_RUNS = "checkpoints"
STUDIES = "studies"


@dataclass(frozen=True)
class CheckpointRun:
    folder: Path
    spec: CorpusSpec  # its manifest

    @property
    def label(self) -> str:
        return self.spec.checkpoint or self.folder.name

    @property
    def fraction(self) -> float | None:
        return self.spec.fraction


def source_label(source: str) -> str:
    """A corpus as the outputs name it: an NLTK or Hub name as given, a file by its name (no machine path), an
    engine's imported routes as such, marked IDs only (every figure and table of the run carries this label)."""
    if source.startswith("imported:"):
        return f"routes imported from {source.split(':', 1)[1]} (IDs only)"
    return source if source.startswith(("nltk:", "hf:")) else Path(source).name


def model_label(model: str) -> str:
    """How results name the model: a registry name or Hub id as is, a local folder by its name only (a saved result
    never carries a path of the machine it was computed on)."""
    path = Path(model)
    return path.name if path.is_absolute() or model.startswith((".", "~")) or path.exists() else model


def token_view(con, name: str, run_dir: Path) -> bool:
    """View `name` over a run's rows with the columns every study reads; returns whether it has predictions."""
    create_rows_view(con, f"{name}_rows", run_dir)
    predicted = has_column(con, f"{name}_rows", "predicted")
    con.execute(f"""CREATE OR REPLACE VIEW {name} AS SELECT doc, domain::VARCHAR AS domain, position, token_id, token,
        stack::VARCHAR AS stack, layer, experts::SMALLINT[] AS experts, len(experts) AS k, experts[1] AS top1,
        dropped, {"margin" if has_column(con, f"{name}_rows", "margin") else "NULL::FLOAT AS margin"}
        {", predicted" if predicted else ""} FROM {name}_rows""")
    return predicted


def _spec(folder: Path) -> CorpusSpec:
    spec = read_manifest(folder)
    if spec is None and (Path(folder) / "meta.parquet").is_file():
        raise InputError(f"{folder.name}/ holds computed statistics, not routing rows (the bundled results ship no "
                         "rows): route the corpus first, e.g. `python -m core corpus --model demo-switch-8 --input "
                         "nltk:brown --out cache/corpus/brown`, then `python -m core studies cache/corpus/brown`. The "
                         "bundled studies open on the Experts page.")
    if spec is None:
        raise InputError(f"{folder.name}/ is not a corpus run (no manifest.json): route it first with "
                         "`python -m core corpus`.")
    return spec


def checkpoint_runs(run_dir: Path, given: Sequence[Path] | None = None) -> list[CheckpointRun]:
    """The checkpoint runs to set against `run_dir` (the final model): `given` in the order given, else the runs in
    RUN_DIR/checkpoints/ by fraction of training (then name)."""
    folders = list(given) if given else sorted(p for p in (Path(run_dir) / CHECKPOINT_RUNS).glob("*/")
                                               if (p / "manifest.json").is_file())
    runs = [CheckpointRun(Path(folder), _spec(Path(folder))) for folder in folders]
    if not given:
        runs.sort(key=lambda r: (r.fraction is None, r.fraction or 0.0, r.label))
    return runs


@dataclass
class FieldStudies:
    """The frames `studies` writes (Parquet) and the Studies view draws; each names its definition (docs/corpus.md)."""

    saturation: pd.DataFrame
    coactivation: pd.DataFrame
    vocabulary: pd.DataFrame
    domain: pd.DataFrame
    consecutive: pd.DataFrame
    drops: pd.DataFrame
    context: pd.DataFrame
    early: pd.DataFrame
    early_tokens: pd.DataFrame
    meta: pd.DataFrame
    transitions: pd.DataFrame = field(default_factory=pd.DataFrame)
    pathways: pd.DataFrame = field(default_factory=pd.DataFrame)
    balance: pd.DataFrame = field(default_factory=pd.DataFrame)
    margins: pd.DataFrame = field(default_factory=pd.DataFrame)
    consistency: pd.DataFrame = field(default_factory=pd.DataFrame)  # fixed segments (Routing Lens's variant)
    local_consistency: pd.DataFrame = field(default_factory=pd.DataFrame)  # SRP / SCH as the authors compute them

    NAMES = ("saturation", "coactivation", "vocabulary", "domain", "consecutive", "drops", "context", "early",
             "early_tokens", "meta", "transitions", "pathways", "balance", "margins", "consistency", "local_consistency")
    LATER = ("transitions", "pathways", "balance", "margins", "consistency", "local_consistency")  # a folder written
    # before these were added lacks them

    def save(self, folder: Path, extra: Callable[[Path], None] | None = None) -> None:
        def fill(tmp: Path) -> None:
            for name in self.NAMES:
                getattr(self, name).to_parquet(tmp / f"{name}.parquet", index=False, compression="zstd")
            if extra:
                extra(tmp)

        try:
            write_folder(folder, fill)
        except OSError as err:
            raise DataError(f"Could not write the studies to {Path(folder).name}/: {err.strerror or err}. Free some "
                            "disk space or choose another --out folder; nothing was left half-written.") from None

    @classmethod
    def load_from(cls, folder: Path) -> FieldStudies:
        missing = [n for n in cls.NAMES if n not in cls.LATER and not (Path(folder) / f"{n}.parquet").is_file()]
        if missing:
            raise DataError(f"{Path(folder).name}/ is not a complete studies folder (missing {', '.join(missing)}): "
                            "run `python -m core studies` on the corpus run.")
        return cls(**{n: pd.read_parquet(Path(folder) / f"{n}.parquet") for n in cls.NAMES
                      if (Path(folder) / f"{n}.parquet").is_file()})


def _series(con, spec: CorpusSpec, runs: list[CheckpointRun], progress) -> tuple[pd.DataFrame, ...]:
    """Saturation and early learning of every checkpoint against the final run (view `final`)."""
    saturation, early, tokens = [], [], []
    names = con.execute("SELECT token_id, any_value(token) AS token, count(*) AS n FROM final GROUP BY ALL").df()
    fixed = names.sort_values(["n", "token_id"], ascending=[False, True]).head(openmoe.FIXED_TOKENS)
    for i, run in enumerate(runs):
        other = run.spec
        if (other.num_experts, other.top_k) != (spec.num_experts, spec.top_k):
            raise InputError(f"Checkpoint {run.label} has {other.num_experts} experts, top-{other.top_k}; the final "
                             f"run has {spec.num_experts}, top-{spec.top_k}: a series must be one model's checkpoints.")
        token_view(con, f"ck{i}", run.folder)
        sat = olmoe.saturation(con, f"ck{i}", "final")
        if sat.empty:
            raise DataError(f"Checkpoint {run.label} routed none of the final run's text: route both with the same "
                            "--input, --every and --shard-segments.")
        if int(sat.mismatched.sum()):
            raise DataError(f"Checkpoint {run.label} tokenises the text differently from the final model: a series "
                            "must share one tokenizer.")
        per_token = openmoe.early_learning(openmoe.token_distributions(con, f"ck{i}", "final"), spec.num_experts)
        for frame in (sat, per_token):
            frame.insert(0, "checkpoint", run.label)
            frame.insert(1, "fraction", run.fraction)
            frame.insert(2, "order", i)
        saturation.append(sat.drop(columns="mismatched"))
        early.append(per_token.groupby(["checkpoint", "fraction", "order", "stack", "layer"], dropna=False)
                     .agg(jss=("jss", "mean"), tokens=("jss", "size")).reset_index())
        tokens.append(per_token[per_token.token_id.isin(fixed.token_id)].merge(fixed[["token_id", "token"]]))
        if progress:
            progress(run.label)
    cols = ["checkpoint", "fraction", "order"]
    return (pd.concat(saturation, ignore_index=True) if saturation else pd.DataFrame(columns=cols),
            pd.concat(early, ignore_index=True) if early else pd.DataFrame(columns=cols),
            pd.concat(tokens, ignore_index=True) if tokens else pd.DataFrame(columns=cols))


def compute(run_dir: Path, checkpoints: Sequence[Path] | None = None, capacity_factor: float = 2.0,
            memory_gib: float = 1.0, progress: Callable[[str], None] | None = None) -> FieldStudies:
    """Every study over the run in `run_dir` (and its checkpoint series, if any)."""
    if capacity_factor <= 0:
        raise InputError("--capacity-factor must be positive (e.g. 1.0 or 1.25).")
    spec = _spec(Path(run_dir))
    e = spec.num_experts
    if not e:
        raise InputError(f"{Path(run_dir).name}/'s manifest does not say how many experts the model has.")
    runs = checkpoint_runs(run_dir, checkpoints)
    con = connect(memory_gib)
    try:
        predicted = token_view(con, "final", Path(run_dir))
        own = bool(con.execute("SELECT count(dropped) > 0 FROM final").fetchone()[0])
        frames = {
            "coactivation": olmoe.coactivation(con, "final"),
            "vocabulary": olmoe.vocabulary_specialisation(con, "final", e, spec.causal, predicted),
            "domain": olmoe.domain_specialisation(con, "final", e),
            "consecutive": mixtral.consecutive(con, "final", e),
            "drops": openmoe.drops_by_position(con, "final", e, capacity_factor, own),
            "context": openmoe.context_independence(con, "final", e),
            "transitions": pathways.transitions(con, "final"),
            "balance": pathways.balance(con, "final", e),
            "margins": pathways.margins(con, "final", e),
            "consistency": consistency.consistency(con, "final", e),
            "local_consistency": local_consistency.authors_consistency(con, "final", e),
        }
        frames["pathways"] = pathways.layer_pairs(con, "final", e, frames["transitions"])
        if progress:
            progress("final")
        frames["saturation"], frames["early"], frames["early_tokens"] = _series(con, spec, runs, progress)
    finally:
        con.close()
    frames["meta"] = pd.DataFrame([{
        "model": model_label(spec.model), "source": source_label(spec.source), "experts": e, "top_k": spec.top_k,
        "tokens": sum(spec.tokens.values()),  # the run's own count (manifest), not another scan
        "causal": spec.causal, "predictions": predicted,
        "capacity": openmoe.OWN_CAPACITY if own else openmoe.simulated_label(capacity_factor),
        "checkpoints": json.dumps([{"label": r.label, "fraction": r.fraction} for r in runs]),
    }])
    return FieldStudies(**frames)
