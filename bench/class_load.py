"""A class of 100 students submitting within 60 s through Streamlit's own protocol (bench/load's client), while the
teacher's board refreshes itself; then the store is checked: lost and duplicated submissions, the p95 time from a
student's click to their own result, the server's CPU per submission and per board refresh.

    python -m bench.class_load [--students 100] [--window 60] [--model minilm-router-16]

Each student opens /class?room=CODE, reads the ids of its form's widgets from the page, then sends what a browser
sends on "Submit": the form's values and the button's trigger in one rerun. A student whose result does not arrive
within the timeout sends the same submission again (a browser retry), so duplicates would show.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect

from bench.load.protocol import MAX_MESSAGE, rerun_message
from bench.load.server import Server
from core.classroom.validation import JUDGEMENTS

WORDS = [("bank", "I sat on the river bank.", "She deposited the money at the bank.", "different"),
         ("bat", "A bat flew out of the cave.", "He swung the bat at the ball.", "different"),
         ("spring", "The spring in the bed broke.", "The spring in the old chair squeaked.", "same"),
         ("ring", "She wore a gold ring.", "He bought her a diamond ring.", "same")]
DEBUG = False
KEYS = ("class_word", "class_s1", "class_s2", "class_judgement", "class_nick", "class_submit", "class_peek")


async def _until_finished(ws, found: dict | None = None, want_text: str = "") -> bool:
    """Read until the script finishes; note widget ids (by key suffix) and whether `want_text` was shown."""
    seen = False
    while True:
        msg = ForwardMsg()
        msg.ParseFromString(await ws.recv())
        kind = msg.WhichOneof("type")
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            inner = getattr(element, element.WhichOneof("type"))
            widget_id = getattr(inner, "id", "")
            if found is not None and element.WhichOneof("type") == "plotly_chart":
                found["figure"] = "drawn"
            if found is not None and widget_id:
                for key in KEYS:
                    if widget_id.endswith(key):
                        found[key] = widget_id
            if want_text and element.WhichOneof("type") == "alert" and want_text in element.alert.body:
                seen = True
            if element.WhichOneof("type") in ("alert", "exception") and DEBUG:
                print("  page said:", str(inner)[:200].replace("\n", " "))
        elif kind == "script_finished" and msg.script_finished in (ForwardMsg.FINISHED_SUCCESSFULLY,):
            return seen


async def student(ws_url: str, code: str, i: int, delay: float, timeout_s: float) -> dict:
    await asyncio.sleep(delay)
    word, s1, s2, judgement = WORDS[i % len(WORDS)]
    s1, s2 = f"{s1[:-1]} on day {i}.", f"{s2[:-1]} in week {i}."  # every student's own text: no shared trace
    async with connect(ws_url, subprotocols=["streamlit"], max_size=MAX_MESSAGE, ping_interval=None) as ws:
        await ws.send(rerun_message("class", f"room={code}"))
        ids: dict[str, str] = {}
        await asyncio.wait_for(_until_finished(ws, ids), timeout_s)
        msg = BackMsg()
        rerun = msg.rerun_script
        rerun.query_string, rerun.page_name = f"room={code}", "class"
        for key, value in (("class_word", word), ("class_s1", s1), ("class_s2", s2), ("class_nick", f"s{i}")):
            state = rerun.widget_states.widgets.add()
            state.id, state.string_value = ids[key], value
        state = rerun.widget_states.widgets.add()
        state.id, state.string_value = ids["class_judgement"], JUDGEMENTS[judgement]  # a radio sends its label
        state = rerun.widget_states.widgets.add()
        state.id, state.trigger_value = ids["class_submit"], True
        t0 = time.perf_counter()
        for attempt in range(2):  # a browser retry of the same click after a timeout
            await ws.send(msg.SerializeToString())
            try:
                if await asyncio.wait_for(_until_finished(ws, want_text="Stored"), timeout_s):
                    return {"ok": True, "seconds": time.perf_counter() - t0, "attempts": attempt + 1}
            except TimeoutError:
                continue
        return {"ok": False, "seconds": float("nan"), "attempts": 2}


async def board_view(ws_url: str, code: str) -> float:
    """One look at the board ("Show the class so far" on), as the projector's fragment draws it; seconds taken."""
    async with connect(ws_url, subprotocols=["streamlit"], max_size=MAX_MESSAGE, ping_interval=None) as ws:
        ids: dict[str, str] = {}
        await ws.send(rerun_message("class", f"room={code}"))
        await _until_finished(ws, ids)
        msg = BackMsg()
        msg.rerun_script.query_string, msg.rerun_script.page_name = f"room={code}", "class"
        state = msg.rerun_script.widget_states.widgets.add()
        state.id, state.bool_value = ids["class_peek"], True
        t0 = time.perf_counter()
        await ws.send(msg.SerializeToString())
        drawn: dict[str, str] = {}
        await _until_finished(ws, drawn)
        if "figure" not in drawn:
            raise SystemExit("the board drew no figure: the bench is not measuring it")
        return time.perf_counter() - t0


async def board(ws_url: str, code: str, stop: asyncio.Event) -> int:
    """The projector, every few seconds while the class submits."""
    refreshes = 0
    while not stop.is_set():
        await board_view(ws_url, code)
        refreshes += 1
        await asyncio.sleep(3)
    return refreshes


async def run(ws_url: str, code: str, students: int, window: float, timeout_s: float):
    random.seed(0)
    delays = sorted(random.uniform(0, window) for _ in range(students))
    stop = asyncio.Event()
    watcher = asyncio.create_task(board(ws_url, code, stop))
    results = await asyncio.gather(*(student(ws_url, code, i, d, timeout_s) for i, d in enumerate(delays)),
                                   return_exceptions=True)
    stop.set()
    return results, await watcher


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=100)
    ap.add_argument("--window", type=float, default=60.0)
    ap.add_argument("--model", default="minilm-router-16")
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()
    db = f"sqlite:///{Path(tempfile.mkdtemp(prefix='rl-class-')) / 'class.sqlite'}"
    os.environ["ROUTING_LENS_CLASS_DB"] = db  # this process (the teacher's room, the count) and the server share it
    server = Server(args.model, env={"ROUTING_LENS_CLASS_DB": db})
    from core.classroom import store

    code, _key = store.create_room(args.model)
    for i, (word, s1, s2, judgement) in enumerate(WORDS * 3):  # a board with something on it
        store.submit(code, f"seed-{i}", {"word": word, "sentence1": s1, "sentence2": s2, "judgement": judgement,
                                         "nickname": "seed", "mean_jss": 0.5 + 0.03 * i, "layers": [], "verdict": ""})
    asyncio.run(board_view(server.ws_url, code))  # warm: the model and the WiC reference loaded once
    cpu0 = sum(server.ps.cpu_times()[:2])
    board_s = [asyncio.run(board_view(server.ws_url, code)) for _ in range(10)]
    board_cpu = (sum(server.ps.cpu_times()[:2]) - cpu0) / 10  # includes the page run before the toggle
    cpu0 = sum(server.ps.cpu_times()[:2])
    t0 = time.perf_counter()
    results, refreshes = asyncio.run(run(server.ws_url, code, args.students, args.window, args.timeout))
    wall = time.perf_counter() - t0
    cpu = sum(server.ps.cpu_times()[:2]) - cpu0
    server.stop()
    done = [r for r in results if isinstance(r, dict) and r["ok"]]
    failed = [r for r in results if not (isinstance(r, dict) and r["ok"])]
    frame = store.room_entries(code)
    frame = frame[frame.nickname != "seed"]
    stored = len(frame)
    duplicates = stored - frame.nickname.nunique()
    lost = len(done) - len(set(frame.nickname) & {f"s{i}" for i in range(args.students)})
    times = sorted(r["seconds"] for r in done)
    p95 = times[int(0.95 * (len(times) - 1))] if times else float("nan")
    print(f"{args.students} students over {args.window:.0f} s on {args.model}, {os.cpu_count()} cores, "
          f"{wall:.0f} s wall")
    print(f"acknowledged {len(done)}, failed {len(failed)}, stored {stored}, lost {max(lost, 0)}, "
          f"duplicated {duplicates}, retries {sum(r['attempts'] - 1 for r in done)}")
    print(f"time to a student's own result: median {statistics.median(times):.2f} s, p95 {p95:.2f} s"
          if times else "no result arrived")
    print(f"board alone: {board_cpu:.2f} CPU-s per view (page run + board), {statistics.median(board_s):.2f} s")
    per_submission = (cpu - refreshes * board_cpu) / max(len(done), 1)
    print(f"server CPU during the class {cpu:.1f} s: {per_submission:.2f} CPU-s per submission (board views' share "
          f"taken out: {refreshes} views)")
    if failed:
        print("first failure:", failed[0])


if __name__ == "__main__":
    main()
