"""The class room's store: rooms and the pairs students submit, in SQLAlchemy Core over SQLite (WAL, a file under the
cache folder: it survives a restart) or any SQLAlchemy URL in `ROUTING_LENS_CLASS_DB` (PostgreSQL, so several app
replicas share one class).

Nothing lost, nothing twice: a submission carries an idempotency key (one per submit click, kept by the browser), is
inserted in its own transaction, and a retry of an acknowledged key returns the stored entry instead of a second one.
The teacher's key is stored only as a SHA-256 digest; room codes are random, never sequential. The schema is
versioned (`schema_version`), and `migrate` brings an older store up to date.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from core.errors import InputError
from core.settings import cache_dir

DB_ENV = "ROUTING_LENS_CLASS_DB"
SCHEMA_VERSION = 1
ROOM_HOURS = 6  # a room expires this long after it opened
ROOM_CAP = 500  # entries per room
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a projector
CODE_LENGTH = 6  # 32^6 ≈ 1.07e9 codes

metadata = sa.MetaData()
version_table = sa.Table("schema_version", metadata, sa.Column("version", sa.Integer, nullable=False))
rooms = sa.Table(
    "rooms", metadata,
    sa.Column("code", sa.String(12), primary_key=True),
    sa.Column("teacher_digest", sa.String(64), nullable=False),
    sa.Column("model", sa.String(300), nullable=False),
    sa.Column("revision", sa.String(200), nullable=False, server_default=""),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("expires", sa.Float, nullable=False),
    sa.Column("locked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("board_visible", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("closed", sa.Boolean, nullable=False, server_default=sa.false()),
)
entries = sa.Table(
    "entries", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("room", sa.String(12), sa.ForeignKey("rooms.code"), nullable=False, index=True),
    sa.Column("idem_key", sa.String(64), nullable=False),
    sa.Column("nickname", sa.String(20), nullable=False, server_default=""),
    sa.Column("word", sa.String(40), nullable=False),
    sa.Column("sentence1", sa.String(300), nullable=False),
    sa.Column("sentence2", sa.String(300), nullable=False),
    sa.Column("judgement", sa.String(10), nullable=False),  # same | different | unsure
    sa.Column("mean_jss", sa.Float, nullable=False),
    sa.Column("layers", sa.Text, nullable=False),  # JSON: [{"stack", "layer", "jss"}, …]
    sa.Column("verdict", sa.String(400), nullable=False, server_default=""),
    sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created", sa.Float, nullable=False),
    sa.UniqueConstraint("room", "idem_key", name="one_entry_per_submission"),
)


@dataclass(frozen=True)
class Room:
    code: str
    model: str
    revision: str
    created: float
    expires: float
    locked: bool
    board_visible: bool
    closed: bool

    @property
    def open(self) -> bool:
        return not self.closed and time.time() < self.expires


def default_url() -> str:
    return os.environ.get(DB_ENV) or f"sqlite:///{Path(cache_dir()) / 'class' / 'rooms.sqlite'}"


_ENGINES: dict[str, sa.Engine] = {}


def engine(url: str | None = None) -> sa.Engine:
    """One engine per URL per process, the schema created or migrated on first use."""
    url = url or default_url()
    if url not in _ENGINES:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        eng = sa.create_engine(url, future=True, pool_pre_ping=True)
        if eng.dialect.name == "sqlite":
            @sa.event.listens_for(eng, "connect")
            def _wal(dbapi_conn, _record):  # WAL: readers never block the writer; survives a crash
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=FULL")
                cur.execute("PRAGMA busy_timeout=5000")
                cur.close()
        migrate(eng)
        _ENGINES[url] = eng
    return _ENGINES[url]


def migrate(eng: sa.Engine) -> int:
    """Create the tables or bring an older schema up to SCHEMA_VERSION; returns the version now stored."""
    with eng.begin() as conn:
        metadata.create_all(conn)
        found = conn.execute(sa.select(version_table.c.version)).scalar()
        if found is None:
            conn.execute(version_table.insert().values(version=SCHEMA_VERSION))
            return SCHEMA_VERSION
        # version 1 is the first; a later step goes here as `if found < 2: …`, each in this transaction
        if found > SCHEMA_VERSION:
            raise InputError(f"The class store was written by a newer Routing Lens (schema {found}); update the app.")
        conn.execute(version_table.update().values(version=SCHEMA_VERSION))
    return SCHEMA_VERSION


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_room(model: str, revision: str = "", url: str | None = None, hours: float = ROOM_HOURS
                ) -> tuple[str, str]:
    """(room code, teacher key): the key is returned once and stored only as its digest."""
    eng, now = engine(url), time.time()
    key = secrets.token_urlsafe(24)
    for _ in range(20):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        try:
            with eng.begin() as conn:
                conn.execute(rooms.insert().values(code=code, teacher_digest=digest(key), model=model,
                                                   revision=revision, created=now, expires=now + hours * 3600))
            return code, key
        except sa.exc.IntegrityError:  # a code already taken: draw again
            continue
    raise InputError("Could not open a room: try again.")


def room(code: str, url: str | None = None) -> Room | None:
    code = (code or "").strip().upper()
    if not code or len(code) > 12:
        return None
    with engine(url).connect() as conn:
        row = conn.execute(sa.select(rooms).where(rooms.c.code == code)).mappings().first()
    if row is None:
        return None
    return Room(row["code"], row["model"], row["revision"], row["created"], row["expires"], bool(row["locked"]),
                bool(row["board_visible"]), bool(row["closed"]))


def is_teacher(code: str, key: str | None, url: str | None = None) -> bool:
    if not key:
        return False
    with engine(url).connect() as conn:
        stored = conn.execute(sa.select(rooms.c.teacher_digest).where(rooms.c.code == code)).scalar()
    return stored is not None and secrets.compare_digest(stored, digest(key))


def _teacher(code: str, key: str, url: str | None) -> None:
    if not is_teacher(code, key, url):
        raise InputError("Only the teacher who opened this room can do that.")


def set_flag(code: str, key: str, flag: str, value: bool, url: str | None = None) -> None:
    """Teacher controls: `locked`, `board_visible`, `closed`."""
    if flag not in ("locked", "board_visible", "closed"):
        raise InputError(f"Unknown room setting {flag!r}.")
    _teacher(code, key, url)
    with engine(url).begin() as conn:
        conn.execute(rooms.update().where(rooms.c.code == code).values({flag: value}))


def hide(code: str, key: str, entry_id: int, hidden: bool = True, url: str | None = None) -> None:
    _teacher(code, key, url)
    with engine(url).begin() as conn:
        conn.execute(entries.update().where((entries.c.room == code) & (entries.c.id == int(entry_id)))
                     .values(hidden=hidden))


def submit(code: str, idem_key: str, entry: dict, url: str | None = None) -> tuple[int, bool]:
    """Store one validated entry (core.classroom.validation) once: (its id, whether this call stored it — False for
    a retry of an acknowledged key). Refused when the room is closed, expired, locked or full."""
    found = room(code, url)
    if found is None:
        raise InputError("There is no class room with that code.")
    if not found.open:
        raise InputError("This class room is closed.")
    if found.locked:
        raise InputError("The teacher has paused submissions for now.")
    if not idem_key or len(idem_key) > 64:
        raise InputError("This submission has no valid key: reload the page and submit again.")
    eng = engine(url)
    with eng.begin() as conn:
        existing = conn.execute(sa.select(entries.c.id).where((entries.c.room == found.code)
                                                              & (entries.c.idem_key == idem_key))).scalar()
        if existing is not None:
            return int(existing), False
        count = conn.execute(sa.select(sa.func.count()).select_from(entries)
                             .where(entries.c.room == found.code)).scalar()
        if count >= ROOM_CAP:
            raise InputError(f"This class room is full ({ROOM_CAP} pairs).")
        try:
            result = conn.execute(entries.insert().values(
                room=found.code, idem_key=idem_key, nickname=entry.get("nickname", ""), word=entry["word"],
                sentence1=entry["sentence1"], sentence2=entry["sentence2"], judgement=entry["judgement"],
                mean_jss=float(entry["mean_jss"]), layers=json.dumps(entry.get("layers", [])),
                verdict=entry.get("verdict", ""), created=time.time()))
            return int(result.inserted_primary_key[0]), True
        except sa.exc.IntegrityError:  # the same key committed by a concurrent retry: that one counts
            pass
    with eng.connect() as conn:
        return int(conn.execute(sa.select(entries.c.id).where((entries.c.room == found.code)
                                                              & (entries.c.idem_key == idem_key))).scalar()), False


def room_entries(code: str, include_hidden: bool = False, url: str | None = None):
    """The room's entries as a DataFrame, oldest first (hidden ones only when asked)."""
    import pandas as pd

    query = sa.select(entries).where(entries.c.room == code).order_by(entries.c.id)
    if not include_hidden:
        query = query.where(entries.c.hidden == sa.false())
    with engine(url).connect() as conn:
        frame = pd.DataFrame(conn.execute(query).mappings().all())
    if frame.empty:
        return pd.DataFrame(columns=[c.name for c in entries.columns])
    return frame
