"""The Class page's three views: the teacher's room (code, QR join link, controls, export), the student's phone form
with their own result, and the live board. Every text a student typed is shown through `as_text` (inert markdown)
or in a data frame, never as markup."""
from __future__ import annotations

import os
import time
import uuid

import streamlit as st

from core.lens import Lens
from core.lens.classroom import JUDGEMENTS, class_board, export_entries, open_room, store, submit_pair
from core.viz.class_plots import class_board_figure
from ui.errors import show_error
from ui.figures import plot
from ui.safe_text import as_text

TEACHER_PASSWORD_ENV = "ROUTING_LENS_TEACHER_PASSWORD"
SUBMIT_GAP_S = 3.0  # one submission per browser session every few seconds
SESSION_CAP = 40  # submissions per browser session
JOIN_ATTEMPTS = 8  # wrong room codes per browser session before joining pauses
JOIN_PAUSE_S = 60.0
BOARD_EVERY_S = 3  # the board refreshes itself this often (no reload)


def teacher_rooms() -> dict[str, str]:
    """Room code → teacher key, held by this browser session only (never put in an address or shown)."""
    return st.session_state.setdefault("class_teacher", {})


def start_room(lens: Lens, locked: bool) -> str | None:
    """The teacher's "Start a class" (the server's teacher password first, in the deployment mode)."""
    password = os.environ.get(TEACHER_PASSWORD_ENV, "")
    if locked and not password:
        st.info("Class rooms are off on this server: its operator sets ROUTING_LENS_TEACHER_PASSWORD to allow them.")
        return None
    given = st.text_input("Teacher password", type="password", key="class_password") if locked else ""
    if st.button("Start a class", type="primary", key="class_start"):
        if locked and given != password:
            st.error("That is not the teacher password of this server.")
            return None
        try:
            code, key = open_room(lens)
        except Exception as err:  # noqa: BLE001
            show_error(err)
            return None
        teacher_rooms()[code] = key
        st.query_params["room"] = code
        return code
    return None


def join_panel(code: str) -> None:
    """The room's code and join link, large, with a QR code the back row can scan."""
    import segno

    link = join_link(code)
    st.markdown(f"## Join: **{code}**")
    qr = segno.make(link, error="m")
    st.image(qr.svg_data_uri(scale=12, border=2), width="stretch",
             caption=f"Scan to join, or open {link.split('?')[0]} and type the code {code}.")


def join_link(code: str) -> str:
    """The address a phone opens: this server's own address (as the teacher's browser reached it), /class?room=CODE.
    A teacher on localhost gets a localhost link: serve the class on the room's network address instead."""
    from urllib.parse import urlsplit

    here = urlsplit(str(st.context.url or ""))
    origin = f"{here.scheme}://{here.netloc}" if here.scheme and here.netloc else ""
    return f"{origin}/class?room={code}"


def teacher_controls(code: str, key: str) -> None:
    room = store.room(code)
    if room is None:
        return
    cols = [*st.columns(2), *st.columns(2)]  # two rows: the labels stay whole in a narrow column
    if cols[0].button("Unlock" if room.locked else "Lock", key="class_lock"):
        store.set_flag(code, key, "locked", not room.locked)
        st.rerun()
    if cols[1].button("Show board" if not room.board_visible else "Hide board", key="class_board_toggle"):
        store.set_flag(code, key, "board_visible", not room.board_visible)
        st.rerun()
    if cols[2].button("Close room", key="class_close"):
        store.set_flag(code, key, "closed", True)
        st.rerun()
    frame = export_entries(code, key)
    cols[3].download_button("Export CSV", frame.to_csv(index=False).encode(), file_name=f"class-{code}.csv",
                            key="class_export")
    cols[3].download_button("Export Parquet", lambda: _parquet(frame), file_name=f"class-{code}.parquet",
                            key="class_export_parquet")
    visible = frame[~frame.hidden.astype(bool)] if len(frame) else frame
    if len(visible):
        choice = st.selectbox("Hide an entry from the board", visible.id.tolist(), index=None, key="class_hide_pick",
                              format_func=lambda i: _entry_label(visible[visible.id == i].iloc[0]))
        if choice is not None and st.button("Hide it", key="class_hide"):
            store.hide(code, key, int(choice))
            st.rerun()


def _parquet(frame) -> bytes:
    """The export as Parquet, made only when its button is clicked."""
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _entry_label(row) -> str:
    return f"#{row.id} {row.word}: {row.sentence1[:30]} / {row.sentence2[:30]}"


def student_form(lens: Lens, code: str) -> None:
    """The phone view: a word, two sentences, the student's judgement; their own result at once."""
    state = st.session_state
    state.setdefault("class_idem", uuid.uuid4().hex)
    with st.form("class_pair", clear_on_submit=False):
        nickname = st.text_input("Nickname (optional)", max_chars=20, key="class_nick")
        word = st.text_input("Word", max_chars=40, key="class_word", placeholder="bank")
        s1 = st.text_area("Sentence 1", max_chars=300, key="class_s1", height=80,
                          placeholder="I sat on the river bank.")
        s2 = st.text_area("Sentence 2", max_chars=300, key="class_s2", height=80,
                          placeholder="She deposited the money at the bank.")
        judgement = st.radio("Does the word mean the same in both?", list(JUDGEMENTS), format_func=JUDGEMENTS.get,
                             index=None, horizontal=True, key="class_judgement")
        sent = st.form_submit_button("Submit", type="primary", width="stretch", key="class_submit")
    if sent:
        _submit(lens, code, nickname, word, s1, s2, judgement or "")
    if "class_result" in state:
        _result(state["class_result"])


def _submit(lens: Lens, code: str, nickname: str, word: str, s1: str, s2: str, judgement: str) -> None:
    state, now = st.session_state, time.time()
    sent = state.setdefault("class_sent", [])
    if len(sent) >= SESSION_CAP:
        st.error(f"You have submitted {SESSION_CAP} pairs: that is the most one phone can send to a room.")
        return
    if sent and now - sent[-1] < SUBMIT_GAP_S:
        st.warning("One moment: wait a few seconds between pairs.")
        return
    try:
        with st.spinner("The model is routing your sentences…"):
            result = submit_pair(lens, code, state["class_idem"], word, s1, s2, judgement, nickname)
    except Exception as err:  # noqa: BLE001 - a clear message, nothing stored
        show_error(err)
        return
    sent.append(now)
    state["class_result"] = result
    state["class_idem"] = uuid.uuid4().hex  # the next click is a new submission; this one is stored once


def _result(result: dict) -> None:
    import pandas as pd

    st.success(f"Stored. “{as_text(result['word'])}”: mean JSS {result['mean_jss']:.3f} — 1 means routed identically.")
    if result.get("verdict"):
        st.markdown(as_text(result["verdict"]))
    st.dataframe(pd.DataFrame(result["layers"])[["layer", "jss"]], hide_index=True, width="stretch")


def join_form() -> str | None:
    """A room code typed by a student (attempts limited per browser session, so codes cannot be enumerated)."""
    state = st.session_state
    fails = state.setdefault("class_join_fails", [])
    recent = [t for t in fails if time.time() - t < JOIN_PAUSE_S]
    code = st.text_input("Room code", max_chars=12, key="class_code_input").strip().upper()
    if not code:
        return None
    if len(recent) >= JOIN_ATTEMPTS:
        st.error("Too many wrong codes: wait a minute, then check the code on the board.")
        return None
    room = store.room(code)
    if room is None or not room.open:
        fails.append(time.time())
        st.error("No open class room has that code: check it on the board.")
        return None
    st.query_params["room"] = room.code
    return room.code


def board_view(lens: Lens, code: str, teacher: bool) -> None:
    """The board: on the teacher's screen (the projector) refreshed every few seconds without a reload; on a phone,
    drawn when asked."""

    @st.fragment(run_every=BOARD_EVERY_S if teacher else None)
    def live() -> None:
        room = store.room(code)
        if room is None:
            return
        if not room.board_visible and not teacher:
            st.info("The teacher has hidden the board for now.")
            return
        b = class_board(lens, code)
        reference = lens.wic_reference()
        st.metric("Pairs submitted", b.submissions)
        plot(class_board_figure(b.same, b.different, reference, b.sentence), key=f"class-board-{code}")
        st.markdown(as_text(b.sentence))
        if b.unsure:
            st.caption(f"{b.unsure} pair(s) judged “not sure” are not in the comparison.")
        if len(b.surprises):
            st.subheader("Pairs that surprised the model")
            st.dataframe(b.surprises[["word", "sentence1", "sentence2", "judgement", "mean_jss", "why"]],
                         hide_index=True, width="stretch")
        if len(b.disagreements):
            st.subheader("Pairs the class judged differently")
            st.dataframe(b.disagreements[["word", "sentence1", "sentence2", "judgement", "nickname"]],
                         hide_index=True, width="stretch")

    live()
