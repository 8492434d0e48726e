"""Routing Lens, the public import: `from routing_lens import Lens`.

`Lens(model, dtype=…, decoder_read=…)` traces, compares, reproduces the paper, routes corpora and writes to routing
(docs: README "Python API"). The names here are the ones the documentation promises; `core` is the internal package
behind them.
"""
from core.lens import Lens, newest_result, word_specialisation
from core.tracing.interventions import Intervention
from core.version import __version__

__all__ = ["Intervention", "Lens", "__version__", "newest_result", "word_specialisation"]
