"""`Lens`: one model, its precision and its decoder reading, and everything Routing Lens does with them."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from core.errors import InputError, RoutingLensError
from core.lens.pair import PairComparison, judge, word_span
from core.lens.runs import newest_result, reproduce
from core.results.store import Results
from core.settings import asked_dtype
from core.studies.classic_reference import COLUMNS as CLASSIC_COLUMNS
from core.studies.classic_reference import classic_pairs
from core.studies.controls import pair_controls
from core.studies.pair_reference import wic_reference
from core.studies.word_pair import (
    UNRELATED_WORDS,
    StackComparison,
    compare_word,
    context_strip,
    unrelated_words_jss,
)
from core.tracing.cache import TraceCache
from core.tracing.routing_trace import RoutingTrace
from core.tracing.tracer import Tracer
from core.types import STACKS, DecoderRead, DType, Stack


def _t(values: Sequence[int] | None) -> tuple[int, ...] | None:
    return None if values is None else tuple(int(v) for v in values)


TraceMemo = Callable[[str, str, tuple[Stack, ...], DecoderRead, "DType | None"], RoutingTrace]
"""(model, text, stacks, decoder reading, dtype or None) → one text's trace: the app passes its per-process memo
(ui.model_cache.cached_trace), so a page that calls the Lens traces nothing another visitor already traced."""
ReferenceSource = Callable[[str], pd.DataFrame]
"""model → its WiC pairs (stack, label, jss) in a saved result, empty when none: the app passes its per-process one."""
ClassicSource = Callable[["Lens"], pd.DataFrame]
"""a Lens → its model's routing of the classic triplets (Lens.route_classics): the app passes its per-process one."""


class Lens:
    """`model`: a registry name, Hub id or local folder (loaded on first use), or a Tracer already built.
    `dtype`: float32, bfloat16 or float16; None = `ROUTING_LENS_DTYPE`, else the precision policy. `decoder_read`:
    where a Switch decoder's routing of a token is read ("input" or "label"); one the model lacks is an error.
    `memo`, `references` and `classic`: where one-text traces, saved WiC references and the classic triplets'
    reference come from (default: the tracer and the newest saved result); the app passes its per-process caches."""

    def __init__(self, model: str | Tracer, *, dtype: DType | None = None, decoder_read: DecoderRead = "input",
                 device: str | None = None, cache: bool = True, memo: TraceMemo | None = None,
                 references: ReferenceSource | None = None,
                 classic: ClassicSource | None = None) -> None:
        self._tracer = model if isinstance(model, Tracer) else None
        self.model = model.loaded.name if isinstance(model, Tracer) else model
        self.dtype = model.loaded.dtype if isinstance(model, Tracer) else asked_dtype(dtype)
        self.device = device
        self.cache = cache
        self.decoder_read = decoder_read
        self._lm = None  # the model with its LM head (expert_lens), loaded on first use
        self._memo = memo
        self._references = references
        self._classic_source = classic
        self._classic: pd.DataFrame | None = None
        self._other_precision: dict[str, Tracer] = {}
        if self._tracer is not None:
            self._tracer.check_decoder_read(decoder_read)

    @property
    def tracer(self) -> Tracer:
        if self._tracer is None:
            from core.models.loading import load_model

            loaded = load_model(self.model, dtype=self.dtype, device=self.device)
            self._tracer = Tracer(loaded, cache=TraceCache() if self.cache else None)
            self._tracer.check_decoder_read(self.decoder_read)
        return self._tracer

    def beside(self, other: str | Tracer) -> Lens:
        """A Lens on another model with this one's settings, for side-by-side views. Its decoder reading is the
        adapter's answer (core.models.adapters.base.ModelAdapter.decoder_read): this one's when that model offers
        it, else its own default, never an error."""
        tracer = other if isinstance(other, Tracer) else Lens(other, dtype=self.dtype, device=self.device,
                                                              cache=self.cache).tracer
        return Lens(tracer, decoder_read=tracer.adapter.decoder_read(self.decoder_read), device=self.device,
                    cache=self.cache, memo=self._memo, references=self._references,
                    classic=self._classic_source)

    def trace(self, texts: str | Sequence[str], stacks: Sequence[Stack] | None = None) -> list[RoutingTrace]:
        """Every token's router probabilities at every sparse layer of each text (all the model's stacks)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if self._memo is not None:
            return [self._memo(self.model, text, tuple(stacks or STACKS), self.decoder_read, None) for text in texts]
        return self.tracer.trace(texts, stacks=tuple(stacks or self.tracer.adapter.stacks),
                                 decoder_read=self.decoder_read)

    def _trace_one(self, text: str, dtype: DType | None = None) -> RoutingTrace:
        """One text in every stack, through the memo when there is one; `dtype` other than the model's: a second
        copy of the model in that precision (the float32 re-check of a half-precision pair)."""
        if self._memo is not None:
            return self._memo(self.model, text, STACKS, self.decoder_read, dtype)
        tracer = self.tracer
        if dtype is not None and dtype != tracer.loaded.dtype:
            tracer = self._other_precision.get(dtype) or self._other_precision.setdefault(
                dtype, self._retrace(tracer, dtype))
        return tracer.trace([text], stacks=STACKS, decoder_read=self.decoder_read)[0]

    def word_pair(self, sentence1: str, sentence2: str, spans: tuple[tuple[int, int], tuple[int, int]],
                  dtype: DType | None = None) -> dict[str, StackComparison]:
        """The word at `spans` in the two sentences, per stack (the bare comparison; `compare` adds its context)."""
        return compare_word(self._trace_one(sentence1, dtype), spans[0], self._trace_one(sentence2, dtype), spans[1])

    def compare(self, sentence1: str, sentence2: str, word: str, occurrences: tuple[int, int] = (0, 0),
                control: str | None = None, control_occurrence: int = 0) -> PairComparison:
        """How `word` is routed in each sentence (its `occurrences`-th appearance, from 0) and what that means: with
        a `control` (a sentence where the word keeps sentence 1's meaning) which partner routed it further apart and
        how often that ordering holds on the model's WiC words; always, the pair against the short same-meaning
        pairs of the classic triplets (docs/definitions.md, "Compare's verdict"); where it sits among the model's
        saved WiC pairs (none saved: no placement), and the yardsticks the Compare page draws."""
        spans = (word_span(sentence1, word, occurrences[0], 1), word_span(sentence2, word, occurrences[1], 2))
        control_span = word_span(control, word, control_occurrence, 3) if control and control.strip() else None
        t1, t2 = self._trace_one(sentence1), self._trace_one(sentence2)
        stacks = compare_word(t1, spans[0], t2, spans[1])
        controlled = (compare_word(t1, spans[0], self._trace_one(control), control_span)
                      if control_span is not None else None)
        try:
            classic = self.classic_reference()
        except RoutingLensError:  # a reference that cannot be traced leaves the verdict out, never the comparison
            classic = pd.DataFrame(columns=CLASSIC_COLUMNS)
        said = judge(stacks, controlled, word, self.wic_reference(), classic)
        return PairComparison(word, (t1, t2), spans, stacks, said.placements, self.yardsticks(), context_strip(t1, t2),
                              said.verdicts, controlled, said.ordering, said.floors)

    def classic_reference(self) -> pd.DataFrame:
        """This model's routing of the bundled classic triplets (core.studies.classic_reference): word, label, stack,
        jss. Traced in one batch on first use and held by the Lens (the app passes its per-process one)."""
        if self._classic_source is not None:
            return self._classic_source(self)
        if self._classic is None:
            self._classic = self.route_classics()
        return self._classic

    def route_classics(self) -> pd.DataFrame:
        """The classic triplets routed now, in one batch (what `classic_reference` holds)."""
        tracer = self.tracer
        return classic_pairs(lambda texts: tracer.trace(texts, stacks=STACKS, decoder_read=self.decoder_read))

    def pair_controls(self, sentence1: str, sentence2: str, spans: tuple[tuple[int, int], tuple[int, int]]
                      ) -> pd.DataFrame:
        """Router or representation, for one pair (core.studies.controls.pair_controls): per stack and layer the
        JSS, the cosine of the word's two router inputs, and where the JSS sits among random routers on them.
        Traces afresh with router inputs (not cached); empty for a model without a trained router."""
        if not self.tracer.adapter.has_router:
            return pd.DataFrame()
        capture = self.tracer.capturing_inputs()
        traces = capture.trace([sentence1, sentence2], stacks=STACKS, decoder_read=self.decoder_read)
        return pair_controls(tuple(traces), spans, capture)

    def expert_lens(self, text: str, token: int, layer: int, stack: Stack = "decoder", top: int = 5) -> pd.DataFrame:
        """What each chosen expert writes for one token (a per-expert logit lens): per expert its weight and the
        `top` tokens its output alone promotes through the final norm and LM head (core.studies.expert_lens). Loads
        the model with its LM head once per Lens."""
        from core.studies.expert_lens import expert_logit_lens

        try:
            return expert_logit_lens(self.with_lm_head(), text, token, layer, stack, top)
        except NotImplementedError as err:
            raise InputError(str(err)) from None

    def with_lm_head(self):
        """The model with its language-model head (loaded once per Lens): what interventions measure outcomes on."""
        from core.models.loading import load_model

        if self._lm is None:
            self._lm = load_model(self.model, dtype=self.dtype, device=self.device, lm_head=True)
        return self._lm

    # ---------- writing to routing (core.tracing.interventions; definitions: "Interventions") ----------
    def intervene(self, text: str, *interventions):
        """`text` intact and under `interventions` (core.tracing.interventions.Intervention): an Outcome per position
        (KL from the original, loss before and after, top-5 before and after). Tokens are numbered as this lens's
        traces number them (its decoder reading)."""
        import dataclasses

        from core.studies.outcomes import outcome

        return outcome(self.with_lm_head(), text, [dataclasses.replace(iv, decoder_read=self.decoder_read)
                                                   for iv in interventions])

    def force(self, text: str, experts: Sequence[int], *, layers: Sequence[int] | None = None,
              tokens: Sequence[int] | None = None, stack: Stack = "decoder"):
        from core.tracing.interventions import Intervention

        return self.intervene(text, Intervention("force", stack, _t(layers), _t(tokens), tuple(experts)))

    def ban(self, text: str, experts: Sequence[int], *, layers: Sequence[int] | None = None,
            tokens: Sequence[int] | None = None, stack: Stack = "decoder"):
        from core.tracing.interventions import Intervention

        return self.intervene(text, Intervention("ban", stack, _t(layers), _t(tokens), tuple(experts)))

    def top_k(self, text: str, k: int, *, layers: Sequence[int] | None = None, stack: Stack = "decoder"):
        from core.tracing.interventions import Intervention

        return self.intervene(text, Intervention("top_k", stack, _t(layers), None, k=k))

    def steer(self, text: str, experts: Sequence[int], strength: float, *, layers: Sequence[int] | None = None,
              stack: Stack = "decoder"):
        from core.tracing.interventions import Intervention

        return self.intervene(text, Intervention("steer", stack, _t(layers), None, tuple(experts), strength=strength))

    def swap(self, sentence1: str, sentence2: str, word: str, layer: tuple[Stack, int] | None = None):
        """Sentence 2 with `word` routed as in sentence 1 (core.studies.swap): its Outcome."""
        from core.studies.swap import swap_outcome

        spans = (word_span(sentence1, word, 0, 1), word_span(sentence2, word, 0, 2))
        return swap_outcome(self.with_lm_head(), sentence1, sentence2, *spans, layer=layer)

    def counterfactuals(self, text: str, token: int, layer: int, stack: Stack = "decoder", horizon: int = 1,
                        samples: int = 0, seed: int = 0) -> pd.DataFrame:
        """The one-swap neighbourhood of one token's route at one sparse layer, and `samples` routes drawn from the
        router's distribution, scored (core.studies.counterfactual)."""
        from core.studies.counterfactual import scan

        return scan(self.with_lm_head(), text, token, layer, stack, horizon, decoder_read=self.decoder_read,
                    samples=samples, seed=seed)

    def wic_reference(self) -> pd.DataFrame:
        """This model's WiC pairs (stack, label, jss) in its newest saved result; empty when it has none."""
        if self._references is not None:
            return self._references(self.model)
        folder = newest_result(self.model)
        return wic_reference(folder, self.model) if folder else pd.DataFrame(columns=["stack", "label", "jss", "lemma"])

    def yardsticks(self) -> dict[str, float]:
        """Label → JSS: the same sentence twice (1.0) and, per stack, two unrelated words each traced alone (left
        out when they cannot be traced: a yardstick only)."""
        marks = {"the same sentence twice: 1.0": 1.0}
        try:
            unrelated = unrelated_words_jss(*(self._trace_one(w) for w in UNRELATED_WORDS))
        except RoutingLensError:
            return marks
        return marks | {f"{stack}: two unrelated words ({' / '.join(UNRELATED_WORDS)}), {value:.3f}": value
                        for stack, value in unrelated.items()}

    def reproduce(self, out: Path | str = "reproduce_out", *, limit: int | None = None, seed: int = 0,
                  sensitivity: bool = False, report: bool = True, data_dir: Path | str | None = None,
                  progress: Callable | None = None, controls: bool = False) -> Results:
        """The paper's Tables 1–2, Figures 1–3 and claims for this model, saved to `out` (with report.html);
        `limit` rows per dataset for a quick look; `sensitivity` reruns every open choice (a reload in float32 or
        bfloat16 for precision); `controls` adds the router-or-representation controls."""
        options = {"progress": progress} if progress else {}
        return reproduce([self.tracer], Path(out), report=report, data_dir=data_dir, limit=limit, seed=seed,
                         decoder_read=self.decoder_read, sensitivity=sensitivity, retrace=self._retrace,
                         controls=controls, **options)

    def _retrace(self, tracer: Tracer, dtype: DType) -> Tracer:
        from core.models.loading import load_model

        return Tracer(load_model(tracer.loaded.name, dtype=dtype, device=self.device), cache=tracer.cache)

    def corpus(self, source: str, out: Path | str, *, max_tokens: int | None = None, every: int = 1,
               full_probs: bool = False, data_dir: Path | str | None = None,
               progress: Callable[[int], None] | None = None):
        """Route a corpus (nltk:brown, a .txt/.jsonl/.parquet file, hf:…) into Parquet shards under `out`; resumes
        an interrupted run. Returns the run's manifest (CorpusSpec)."""
        from core.corpus.run import CorpusSpec, run_local

        streaming = Tracer(self.tracer.loaded, cache=None)  # every text once: nothing to reuse
        spec = CorpusSpec.for_tracer(streaming, source, full_probs=full_probs, max_tokens=max_tokens, every=every)
        return run_local(streaming, spec, Path(out), data_root=Path(data_dir) if data_dir else None,
                         progress=progress)

    @staticmethod
    def experts(run: Path | str, out: Path | str | None = None):
        """Statistics of what each expert receives over a corpus run (DuckDB), saved to `out` (default
        run/stats). Returns the ExpertStats."""
        from core.corpus.stats import compute_for_run

        return compute_for_run(Path(run), Path(out) if out else None)[0]

    @staticmethod
    def studies(run: Path | str, out: Path | str | None = None, checkpoints: list[Path | str] | None = None,
                capacity_factor: float = 2.0):
        """The field's routing studies (OLMoE, Mixtral, OpenMoE) over a corpus run and its checkpoint series, saved
        with report.html to `out` (default run/studies). Returns the FieldStudies."""
        from core.lens.field import run_studies

        given = [Path(c) for c in checkpoints] if checkpoints else None
        return run_studies(Path(run), Path(out) if out else None, given, capacity_factor)[0]
