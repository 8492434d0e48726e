"""What the pages (and a notebook) read besides `Lens` itself, named here so no caller reaches past the use-case
layer: saved results and corpus statistics, the Learn walkthrough's steps, the WiC presets and the paper's citation.

    from core.lens import Results, ExpertStats, stats_folders, router_step, wic_presets
"""
from core.corpus.results import label as stats_label
from core.corpus.results import stats_folders
from core.corpus.stats import ExpertStats, summary
from core.models.adapters.scoring import scale_note
from core.results.store import Results
from core.studies.outcomes import reading as outcome_reading
from core.studies.paper import CITATION
from core.studies.walkthrough import capacity_drops, load_balance, router_step, teaching_capacity, teaching_token
from core.studies.word_pair import wic_presets
from core.tracing.words import find_word

__all__ = ["CITATION", "ExpertStats", "Results", "capacity_drops", "find_word", "load_balance", "outcome_reading", "router_step", "scale_note",
           "stats_folders", "stats_label", "summary", "teaching_capacity", "teaching_token", "wic_presets"]
