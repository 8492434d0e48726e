"""One heavy run at a time, first come first served, with each waiting visitor told their place in the queue."""
from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator

import streamlit as st


class RunQueue:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting: list[int] = []
        self._tickets = itertools.count()

    def position(self, ticket: int) -> int:
        """How many runs are ahead of `ticket` (0 = its turn)."""
        with self._cond:
            return self._waiting.index(ticket)

    @contextlib.contextmanager
    def turn(self, on_wait: Callable[[int], None] = lambda _ahead: None, poll_s: float = 1.0) -> Iterator[None]:
        """Wait for this caller's turn (calling `on_wait(runs ahead)` whenever that number changes), then hold it."""
        with self._cond:
            ticket = next(self._tickets)
            self._waiting.append(ticket)
            last = -1
            while self._waiting[0] != ticket:
                ahead = self._waiting.index(ticket)
                if ahead != last:
                    on_wait(ahead)
                    last = ahead
                self._cond.wait(timeout=poll_s)
        try:
            yield
        finally:
            with self._cond:
                self._waiting.remove(ticket)
                self._cond.notify_all()


@st.cache_resource
def run_queue() -> RunQueue:
    """The server's one queue of Benchmarks runs (shared by every session)."""
    return RunQueue()
