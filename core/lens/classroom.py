"""The class room through the use-case layer: what the Class page calls. A student's pair is validated, compared by
the model (Compare's own verdict and JSS per layer), stored once, and returned at once; the board reads the room's
visible entries beside the model's WiC reference."""
from __future__ import annotations

import pandas as pd

from core.classroom import store
from core.classroom.board import Board, board
from core.classroom.validation import JUDGEMENTS, validated
from core.errors import InputError
from core.lens.lens import Lens

__all__ = ["JUDGEMENTS", "Board", "class_board", "export_entries", "open_room", "store", "submit_pair"]


def open_room(lens: Lens) -> tuple[str, str]:
    """(room code, teacher key) for a room on the lens's model."""
    tracer = lens.tracer
    return store.create_room(tracer.loaded.name, tracer.loaded.revision)


def submit_pair(lens: Lens, code: str, idem_key: str, word: str, sentence1: str, sentence2: str, judgement: str,
                nickname: str = "") -> dict:
    """Validate, compare and store one pair (once per `idem_key`); the student's result: the word, the JSS per
    layer (first stack), its mean, and Compare's plain verdict. Raises InputError, storing nothing, on bad input or a
    room that takes no more pairs."""
    entry = validated(word, sentence1, sentence2, judgement, nickname)
    found = store.room(code)  # refused before the model's work (store.submit checks again, in its transaction)
    if found is None or not found.open:
        raise InputError("There is no open class room with that code.")
    if found.locked:
        raise InputError("The teacher has paused submissions for now.")
    pair = lens.compare(entry["sentence1"], entry["sentence2"], entry["word"])
    stack, comparison = next(iter(pair.stacks.items()))
    layers = [{"stack": stack, "layer": int(b), "jss": float(j)} for b, j in zip(comparison.layers, comparison.jss)]
    entry |= {"mean_jss": comparison.mean_jss, "layers": layers, "verdict": pair.headline()[:400]}
    entry_id, stored = store.submit(code, idem_key, entry)
    return {**entry, "id": entry_id, "stored": stored, "stack": stack}


def class_board(lens: Lens, code: str) -> Board:
    """The board of a room: its visible entries against the model's saved WiC pairs (first stack)."""
    frame = store.room_entries(code)
    reference = lens.wic_reference()
    if len(reference) and "stack" in reference:
        reference = reference[reference["stack"] == reference["stack"].iloc[0]]
    return board(frame, reference)


def export_entries(code: str, key: str) -> pd.DataFrame:
    """Every entry of the room, hidden ones flagged, with the model and its revision (the teacher's key required)."""
    if not store.is_teacher(code, key):
        raise InputError("Only the teacher who opened this room can export it.")
    found = store.room(code)
    frame = store.room_entries(code, include_hidden=True).drop(columns=["idem_key"], errors="ignore")
    return frame.assign(model=found.model, revision=found.revision)
