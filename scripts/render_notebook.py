"""Run examples/quickstart.ipynb top to bottom and save it with its outputs, figures as static PNGs, so it reads on
a code host (GitHub draws no plotly JSON): `python scripts/render_notebook.py`.

The notebook itself is unchanged: run in Jupyter its figures stay interactive. Here each plotly output is redrawn
as a PNG by kaleido (core.viz.export, the server's Chromium) and the heavy JSON is dropped; execution timestamps
are stripped so a re-render changes the file only where an output changed.
"""
from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"
PLOTLY = "application/vnd.plotly.v1+json"


def render(path: Path = NOTEBOOK, timeout: int = 900) -> int:
    """Execute the notebook in a fresh kernel from the repository root and write it back; the number of figures."""
    import nbformat
    import plotly.graph_objects as go
    from nbclient import NotebookClient

    from core.viz.export import figure_bytes

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    figures = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        # stderr is progress bars and library warnings: noise on a code host (a reader sees the results)
        cell.outputs = [o for o in cell.get("outputs", []) if not (o.get("output_type") == "stream"
                                                                  and o.get("name") == "stderr")]
        for output in cell.outputs:
            if output.get("output_type") == "error":
                raise SystemExit(f"the notebook failed: {output.get('ename')}: {output.get('evalue')}")
            data = output.get("data", {})
            if PLOTLY in data:
                png = figure_bytes(go.Figure(data[PLOTLY]), "png")
                output["data"] = {"image/png": base64.b64encode(png).decode("ascii"),
                                  "text/plain": "<a plotly figure: run the notebook for the interactive version>"}
                figures += 1
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK)
    args = parser.parse_args(argv)
    print(f"{args.notebook.relative_to(ROOT)}: {render(args.notebook)} figures as PNG")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
