"""The use-case layer: one typed entry point for notebooks, the CLI and the app.

    from core.lens import Lens
    lens = Lens("demo-switch-8")
    traces = lens.trace(["I sat on the river bank."])
    pair = lens.compare("I sat on the river bank.", "The bank raised its rates.", "bank")
    results = lens.reproduce(limit=50)

Precision and decoder reading are resolved here, once: an explicit argument, else `ROUTING_LENS_DTYPE`, else the
precision policy (float32 wherever the model fits); a decoder reading the model does not have is an error.
"""
from core.lens.compute import saved_results
from core.lens.lens import Lens, PairComparison
from core.lens.reading import (
    CITATION,
    ExpertStats,
    Results,
    capacity_drops,
    find_word,
    load_balance,
    outcome_reading,
    router_step,
    scale_note,
    stats_folders,
    stats_label,
    summary,
    teaching_capacity,
    teaching_token,
    wic_presets,
)
from core.lens.runs import (
    already_saved,
    newest_result,
    open_result,
    reproduce,
    run_folder,
    word_specialisation,
)

__all__ = ["CITATION", "ExpertStats", "Lens", "PairComparison", "Results", "already_saved", "capacity_drops",
           "find_word", "load_balance", "newest_result", "open_result", "outcome_reading", "reproduce", "router_step", "run_folder", "scale_note",
           "saved_results", "stats_folders", "stats_label", "summary", "teaching_capacity", "teaching_token",
           "wic_presets", "word_specialisation"]
