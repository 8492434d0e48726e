"""Progress bars from one place: in a notebook, tqdm's widget where ipywidgets is installed and a plain bar otherwise
(never tqdm.auto's "IProgress not found" warning); in a terminal, a plain bar on stderr; none under `--quiet`
(`ROUTING_LENS_QUIET=1`) or when stderr is not a terminal (a log, a pipe, CI) unless `ROUTING_LENS_PROGRESS=1` asks for
them there."""
from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

QUIET_ENV = "ROUTING_LENS_QUIET"
FORCE_ENV = "ROUTING_LENS_PROGRESS"


def in_notebook() -> bool:
    """Running inside a Jupyter kernel (not merely with ipykernel imported, as a notebook runner does)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def shown() -> bool:
    """Whether a progress bar should be drawn here at all."""
    if os.environ.get(QUIET_ENV, "") not in ("", "0"):
        return False
    return in_notebook() or sys.stderr.isatty() or os.environ.get(FORCE_ENV, "") not in ("", "0")


def bar(total: int | None = None, desc: str = "", unit: str = "it", **kwargs: Any):
    """A tqdm bar (disabled where none should be drawn); `close()` it when done, as tqdm's."""
    if in_notebook() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm
    else:
        from tqdm import tqdm
    disable = bool(kwargs.pop("disable", False)) or not shown()
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, file=sys.stderr, **kwargs)
