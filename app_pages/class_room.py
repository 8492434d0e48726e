"""Class: a live class room. The teacher starts a room; students join by code or QR from their phones and submit a
word in two sentences with their own judgement; the board shows the class's own same- against different-meaning
routing, live."""
from __future__ import annotations

import streamlit as st

from core.lens import Lens
from core.lens.classroom import store
from ui.class_views import board_view, join_form, join_panel, start_room, student_form, teacher_controls, teacher_rooms
from ui.deployment import deployment
from ui.model_cache import try_load
from ui.pair_reference import model_reference
from ui.sidebar import sidebar

st.title("Class: the paper's Figure 2, from your class's own pairs")
code = (st.query_params.get("room") or "").strip().upper()
room = store.room(code) if code else None
key = teacher_rooms().get(room.code) if room else None

if room is None:  # the teacher starts a room; a student types a code
    tracer = sidebar("context")
    st.markdown("**Students:** type the room code from the board. **Teacher:** choose the model in the sidebar, then "
                "start a class; the room stays open for a few hours.")
    typed = join_form()
    if typed:
        st.rerun()
    if tracer is not None and start_room(Lens(tracer), deployment().locked):
        st.rerun()
    st.stop()

tracer = try_load(room.model)
if tracer is None:
    st.error("This room's model cannot be loaded on this server now.")
    st.stop()
lens = Lens(tracer, references=lambda model: model_reference(model)[0])
if not room.open:
    st.info("This class room is closed. Thank you for taking part!")
    st.stop()
if key:  # the teacher's browser: join panel, controls, the board
    left, right = st.columns([1, 2])
    with left:
        join_panel(room.code)
        teacher_controls(room.code, key)
    with right:
        board_view(lens, room.code, teacher=True)
else:
    st.caption(f"Room {room.code} · model {room.model}")
    if room.locked:
        st.info("The teacher has paused submissions for now.")
    student_form(lens, room.code)
    if st.toggle("Show the class so far", key="class_peek"):  # on a phone, once per tap: no auto-refresh on 30 phones
        board_view(lens, room.code, teacher=False)
