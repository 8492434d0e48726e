"""The capture client (`routing-lens capture`): send a dataset's texts to a running OpenAI-compatible engine server
with routes turned on, and write what it routed as a portable trace.

Each request carries the text and nothing else of the user's: the served model's name, the text as the prompt, one
token to generate, temperature 0 and the engine's routes flag. Requests run `concurrency` at a time, are retried with
exponential backoff on a dropped connection, a timeout or a 5xx answer, and every answered text is appended to a
journal (`OUT.capture.jsonl`) at once, so a capture killed at any moment resumes where it stopped; the journal is
removed when the trace is written.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from core.errors import InputError

ROUTES_FLAG = {"vllm": "return_routed_experts", "sglang": "return_routed_experts"}
RETRY_STATUS = {408, 429, 500, 502, 503, 504}


def request_body(engine: str, served: str, text: str) -> dict:
    """Everything a request sends: the served model, the text, one token, greedy, the routes flag."""
    return {"model": served, "prompt": text, "max_tokens": 1, "temperature": 0, ROUTES_FLAG[engine]: True}


def journal_path(out: Path) -> Path:
    return Path(out).with_suffix(".capture.jsonl")


def done_so_far(journal: Path) -> dict[int, dict]:
    """The answers already journaled (a line cut short by a kill is ignored: that text is sent again)."""
    done = {}
    if journal.is_file():
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
                done[int(rec["i"])] = rec["response"]
            except (ValueError, KeyError, TypeError):
                continue
    return done


def _post(client, url: str, body: dict, retries: int, backoff: float) -> dict:
    import httpx

    last = ""
    for attempt in range(retries + 1):
        try:
            r = client.post(url, json=body)
            if r.status_code in RETRY_STATUS:
                last = f"HTTP {r.status_code}"
            elif r.status_code >= 400:
                raise InputError(f"the engine refused a request: HTTP {r.status_code} ({r.text[:200]}).")
            else:
                return r.json()
        except (httpx.TransportError, ValueError) as err:
            last = type(err).__name__
        if attempt < retries:
            time.sleep(backoff * 2**attempt)
    raise InputError(f"the engine did not answer after {retries + 1} tries ({last}); run the same command again to "
                     "resume.")


def capture(engine: str, url: str, served: str, texts: Sequence[str], out: Path, concurrency: int = 4,
            retries: int = 5, timeout: float = 120.0, backoff: float = 0.5,
            advance: Callable[[int], None] = lambda _n: None) -> list[dict]:
    """The engine's responses for every text, in order (journaled as they arrive)."""
    import httpx

    if engine not in ROUTES_FLAG:
        raise InputError(f"--engine {engine}: one of {', '.join(ROUTES_FLAG)}.")
    journal = journal_path(out)
    journal.parent.mkdir(parents=True, exist_ok=True)
    done = done_so_far(journal)
    advance(len(done))
    endpoint = url.rstrip("/") + "/v1/completions"
    with httpx.Client(timeout=timeout) as client, journal.open("a", encoding="utf-8") as log, \
            ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = {pool.submit(_post, client, endpoint, request_body(engine, served, texts[i]), retries, backoff): i
                   for i in range(len(texts)) if i not in done}
        for future in as_completed(futures):
            i = futures[future]
            response = future.result()  # answers are journaled here, in this thread only
            log.write(json.dumps({"i": i, "response": response}) + "\n")
            log.flush()
            done[i] = response
            advance(1)
    return [done[i] for i in range(len(texts))]
