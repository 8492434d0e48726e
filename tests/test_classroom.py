"""The class room: its store keeps every acknowledged submission exactly once (and across a restart), refuses hostile
input storing nothing, gives a teacher's controls to the teacher only; the board says what the class's pairs show;
the Class page runs a teacher and a student end to end."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from core.classroom import store
from core.classroom.board import board
from core.classroom.validation import validated
from core.errors import InputError

ENTRY = {"word": "bank", "sentence1": "I sat on the river bank.", "sentence2": "She paid at the bank.",
         "judgement": "different", "nickname": "", "mean_jss": 0.8, "layers": [], "verdict": ""}


@pytest.fixture
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'rooms.sqlite'}"
    monkeypatch.setenv(store.DB_ENV, url)
    yield url
    store._ENGINES.pop(url, None)  # noqa: SLF001 - a fresh engine per test


def test_a_submission_is_stored_exactly_once_and_survives_a_restart(db):
    code, key = store.create_room("demo-switch-8", "rev-1")
    first, stored = store.submit(code, "click-1", ENTRY)
    again, stored_again = store.submit(code, "click-1", ENTRY)  # a double click or a retry of an acknowledged one
    assert stored and not stored_again and first == again
    store.submit(code, "click-2", {**ENTRY, "judgement": "same"})
    store._ENGINES.clear()  # noqa: SLF001 - a server restart: a new engine on the same file
    frame = store.room_entries(code)
    assert len(frame) == 2 and frame.idem_key.tolist() == ["click-1", "click-2"]
    with store.engine().connect() as conn:  # the key is never stored, only its digest
        digests = conn.execute(sa.select(store.rooms.c.teacher_digest)).scalars().all()
    assert key not in digests and store.digest(key) in digests
    assert store.migrate(store.engine()) == store.SCHEMA_VERSION


def test_teacher_controls_are_the_teachers_and_closed_or_locked_rooms_take_nothing(db):
    code, key = store.create_room("demo-switch-8")
    entry_id, _ = store.submit(code, "a", ENTRY)
    with pytest.raises(InputError, match="Only the teacher"):
        store.set_flag(code, "a student's guess", "locked", True)
    with pytest.raises(InputError, match="Only the teacher"):
        store.hide(code, "", entry_id)
    store.set_flag(code, key, "locked", True)
    with pytest.raises(InputError, match="paused"):
        store.submit(code, "b", ENTRY)
    store.set_flag(code, key, "locked", False)
    store.hide(code, key, entry_id)
    assert store.room_entries(code).empty and len(store.room_entries(code, include_hidden=True)) == 1
    store.set_flag(code, key, "closed", True)
    with pytest.raises(InputError, match="closed"):
        store.submit(code, "c", ENTRY)
    expired, _k = store.create_room("demo-switch-8", hours=-1)
    with pytest.raises(InputError, match="closed"):
        store.submit(expired, "d", ENTRY)
    assert store.room("NOSUCH") is None and store.room("") is None
    codes = {store.create_room("demo-switch-8")[0] for _ in range(20)}
    assert len(codes) == 20 and all(len(c) == store.CODE_LENGTH for c in codes)


def test_a_room_has_a_cap(db, monkeypatch):
    monkeypatch.setattr(store, "ROOM_CAP", 2)
    code, _key = store.create_room("demo-switch-8")
    store.submit(code, "1", ENTRY)
    store.submit(code, "2", ENTRY)
    with pytest.raises(InputError, match="full"):
        store.submit(code, "3", ENTRY)
    assert len(store.room_entries(code)) == 2


@pytest.mark.parametrize("word, s1, s2, why", [
    ("bank", "I sat on the river shore.", "She paid at the bank.", "does not occur in sentence 1"),
    ("", "I sat on the bank.", "The bank.", "word is empty"),
    ("bank", "bank " * 2000, "The bank.", "longer than 300"),
    ("bank", "<b>bank</b> of the river", "The bank.", "markup"),
    ("bank", "[bank](http://evil.example) river", "The bank.", "markup"),
    ("bank", "the bank 🏦 of it", "The bank.", "emoji"),
    ("bank", "the bank\x00 of it", "The bank.", "control character"),
    ("bank", "the bank\u202e of it", "The bank.", "control character"),
    ("two words", "two words here", "two words", "one word"),
])
def test_hostile_input_is_refused_and_nothing_is_stored(db, word, s1, s2, why):
    code, _key = store.create_room("demo-switch-8")
    with pytest.raises(InputError, match=why):
        validated(word, s1, s2, "same")
    assert store.room_entries(code, include_hidden=True).empty
    assert validated("Bank", "I sat on the river bank.", "The BANK raised rates.", "same")["word"] == "Bank"


def test_the_board_says_what_the_class_data_shows_and_names_surprises_and_disagreements():
    def frame(same, different, extra=()):
        rows = [{"word": "bank", "sentence1": f"s{i}", "sentence2": "t", "judgement": "same", "mean_jss": v,
                 "nickname": ""} for i, v in enumerate(same)]
        rows += [{"word": "bank", "sentence1": f"d{i}", "sentence2": "t", "judgement": "different", "mean_jss": v,
                  "nickname": ""} for i, v in enumerate(different)]
        return pd.DataFrame(rows + list(extra))

    few = board(frame([0.9, 0.8], [0.5]))
    assert few.effect is None and "Not enough pairs yet: 2 same-meaning and 1 different-meaning" in few.sentence
    clear = board(frame([0.90, 0.92, 0.88, 0.91, 0.89], [0.50, 0.55, 0.52, 0.48, 0.51]))
    assert clear.effect.ci_low > 0 and "as the paper found" in clear.sentence and "n = 5 + 5" in clear.sentence
    reference = pd.DataFrame({"label": ["T"] * 3 + ["F"] * 3, "jss": [0.9, 0.9, 0.9, 0.6, 0.6, 0.6]})
    odd = board(frame([0.9, 0.3], [0.95, 0.5]), reference)
    assert set(odd.surprises.why) == {"same meaning, routed apart", "different meaning, routed alike"}
    split = frame([0.9], [0.5], [{"word": "Bank", "sentence1": "t", "sentence2": "s0", "judgement": "different",
                                  "mean_jss": 0.9, "nickname": "ann"}])
    assert len(board(split).disagreements) == 2  # the same pair (either order, any case) judged both ways
    assert np.isclose(board(split).same, [0.9]).all()


def test_a_teacher_starts_a_class_and_a_student_submits_from_the_class_page(db, tmp_cache):
    teacher = _class_page()
    teacher.button(key="class_start").click().run()
    assert not teacher.exception, [e.value for e in teacher.exception]
    room = teacher.query_params["room"]
    code = room[0] if isinstance(room, list) else room
    key = teacher.session_state["class_teacher"][code]
    assert key not in "".join(m.value for m in teacher.markdown)  # the key is never on screen
    assert any(code in m.value for m in teacher.markdown)

    student = _class_page(room=code)
    student.text_input(key="class_word").input("bank")
    student.text_area(key="class_s1").input("I sat on the river bank.")
    student.text_area(key="class_s2").input("She deposited the money at the bank.")
    student.radio(key="class_judgement").set_value("different")
    student.button(key="class_submit").click().run()
    assert not student.exception, [e.value for e in student.exception]
    assert any("Stored." in s.value for s in student.success), [e.value for e in student.error]
    frame = store.room_entries(code)
    assert len(frame) == 1 and frame.word.iloc[0] == "bank" and frame.judgement.iloc[0] == "different"
    assert 0 <= frame.mean_jss.iloc[0] <= 1


def _class_page(**query) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=180)
    at.run()
    at.switch_page("app_pages/class_room.py")
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_room_codes_cannot_be_guessed_and_a_phone_cannot_flood_a_room(db, tmp_cache):
    """Eight wrong codes, then joining pauses for this browser; a second pair within a few seconds is refused."""
    at = _class_page()
    for i in range(9):
        at.text_input(key="class_code_input").input(f"WRONG{i}").run()
    assert any("Too many wrong codes" in e.value for e in at.error)
    code, _key = store.create_room("minilm-router-16")
    phone = _class_page(room=code)

    def send(word: str, s1: str, s2: str) -> None:
        phone.text_input(key="class_word").input(word)
        phone.text_area(key="class_s1").input(s1)
        phone.text_area(key="class_s2").input(s2)
        phone.radio(key="class_judgement").set_value("same")
        phone.button(key="class_submit").click().run()

    send("ring", "She wore a ring.", "He bought a ring.")
    assert any("Stored." in s.value for s in phone.success)
    send("ring", "A gold ring.", "A silver ring.")
    assert any("wait a few seconds" in w.value for w in phone.warning)
    assert len(store.room_entries(code)) == 1
    send("ring", "<script>alert(1)</script> ring", "A ring.")
    assert len(store.room_entries(code)) == 1  # markup refused (or the rate limit): nothing stored either way


def test_in_deployment_mode_a_room_needs_the_teacher_password(db, tmp_cache, monkeypatch):
    monkeypatch.setenv("ROUTING_LENS_DEPLOY", "1")
    monkeypatch.delenv("ROUTING_LENS_TEACHER_PASSWORD", raising=False)
    off = _class_page()
    assert any("Class rooms are off on this server" in i.value for i in off.info)
    assert not [b for b in off.button if b.key == "class_start"]
    monkeypatch.setenv("ROUTING_LENS_TEACHER_PASSWORD", "owl-42")
    at = _class_page()
    at.text_input(key="class_password").input("guess")
    at.button(key="class_start").click().run()
    assert any("not the teacher password" in e.value for e in at.error)
    assert "room" not in at.query_params
    at.text_input(key="class_password").input("owl-42")
    at.button(key="class_start").click().run()
    assert "room" in at.query_params and at.session_state["class_teacher"]
