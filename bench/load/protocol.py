"""A load client that speaks Streamlit's own websocket protocol: BackMsg out, ForwardMsg in (the installed
`streamlit.proto`). It costs the server what a browser costs it, minus the static front-end files (a browser
fetches those once and caches them), and costs the client almost nothing, so hundreds of sessions run in one
asyncio process on the machine that serves them."""
from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import ClientConnection, connect

FINISHED_OK = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)
MAX_MESSAGE = 200 * 2**20  # a page's largest message (figures as JSON) is far below this


@dataclass
class View:
    """One page view as the client saw it: seconds from connect to the script-finished message and to the
    last figure, the figures drawn, and any exception or error the page sent."""
    page: str
    query: str
    finished_s: float = float("nan")
    last_figure_s: float = float("nan")
    figures: int = 0
    exceptions: list[str] = field(default_factory=list)
    error: str = ""
    page_s: float = float("nan")  # browser client only: navigation to the figures drawn on screen

    @property
    def ok(self) -> bool:
        return not self.error and not self.exceptions and self.finished_s == self.finished_s

    @property
    def latency_s(self) -> float:
        """To the last figure where the page has one, else to the end of the script."""
        return self.last_figure_s if self.figures else self.finished_s


def rerun_message(page: str, query: str) -> bytes:
    """The first message a browser sends: run the script for this page address and query string."""
    msg = BackMsg()
    state = msg.rerun_script
    state.query_string = query
    state.page_name = page
    state.page_script_hash = ""
    return msg.SerializeToString()


def record(data: bytes, view: View, t0: float) -> bool:
    """Note one ForwardMsg in `view`; True when it ends the view (the script finished, or could not compile). A run
    that ends early for a rerun is followed by the rerun, as in the browser. Shared by both clients, so they measure
    the same thing."""
    msg = ForwardMsg()
    msg.ParseFromString(data)
    kind = msg.WhichOneof("type")
    if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
        element = msg.delta.new_element.WhichOneof("type")
        if element == "plotly_chart":
            view.figures += 1
            view.last_figure_s = time.perf_counter() - t0
        elif element == "exception":
            e = msg.delta.new_element.exception
            view.exceptions.append(f"{e.type}: {e.message}"[:200])
    elif kind == "script_finished":
        if msg.script_finished in FINISHED_OK:
            view.finished_s = time.perf_counter() - t0
            return True
        if msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
            view.error = "the script did not compile"
            return True
    return False


async def read_view(ws: ClientConnection, view: View, t0: float, timeout_s: float) -> None:
    """Read ForwardMsgs until the view has ended."""
    deadline = t0 + timeout_s
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            view.error = f"no script-finished message in {timeout_s:.0f} s"
            return
        if record(await asyncio.wait_for(ws.recv(), left), view, t0):
            return


def fetch(address: str) -> int:
    """GET one front-end file as a browser does (compressed where the server offers it); its size in bytes."""
    request = urllib.request.Request(address, headers={"Accept-Encoding": "gzip, deflate, br"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return len(response.read())
    except urllib.error.HTTPError as err:  # the browser's probes of a page-relative path answer 404, as for it
        return len(err.read())


async def open_view(ws_url: str, page: str, query: str, timeout_s: float = 120.0,
                    hold: asyncio.Event | None = None, ready: asyncio.Queue | None = None,
                    assets: tuple[str, ...] = ()) -> View:
    """A fresh session opens `/{page}?{query}`; with `assets`, it first fetches those front-end files (a first-time
    visitor's browser, see browser.front_end_requests). With `hold`, the connection stays open (an idle session)
    until the event is set, and the finished view is put on `ready` first."""
    view = View(page, query)
    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(asyncio.to_thread(fetch, a) for a in assets))
        async with connect(ws_url, subprotocols=["streamlit"], max_size=MAX_MESSAGE, open_timeout=timeout_s,
                           ping_interval=None) as ws:
            await ws.send(rerun_message(page, query))
            await read_view(ws, view, t0, timeout_s)
            if hold is not None:
                if ready is not None:
                    ready.put_nowait(view)
                await hold.wait()
    except (TimeoutError, OSError, Exception) as err:  # noqa: BLE001 - recorded; the other sessions go on
        view.error = view.error or f"{type(err).__name__}: {str(err)[:150]}"
    return view
