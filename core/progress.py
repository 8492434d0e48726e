"""Progress bars from one place: in a notebook, tqdm's widget where ipywidgets is installed and a plain bar otherwise
(never tqdm.auto's "IProgress not found" warning); in a terminal, a plain bar on stderr; none under `--quiet`
(`ROUTING_LENS_QUIET=1`) or when stderr is not a terminal (a log, a pipe, CI)."""
from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

QUIET_ENV = "ROUTING_LENS_QUIET"


def in_notebook() -> bool:
    return "ipykernel" in sys.modules


def shown() -> bool:
    """Whether a progress bar should be drawn here at all."""
    if os.environ.get(QUIET_ENV, "") not in ("", "0"):
        return False
    return in_notebook() or sys.stderr.isatty()


def bar(total: int | None = None, desc: str = "", unit: str = "it", **kwargs: Any):
    """A tqdm bar (disabled where none should be drawn); `close()` it when done, as tqdm's."""
    if in_notebook() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm
    else:
        from tqdm import tqdm
    disable = bool(kwargs.pop("disable", False)) or not shown()
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, file=sys.stderr, **kwargs)
