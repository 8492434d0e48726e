"""The class room's store under what a real class brings: a server killed with SIGKILL in the middle of submissions
(every acknowledged one is there after the restart) and PostgreSQL, started here from Debian's `postgresql` package,
shared by concurrent writers (one entry per submission, whatever the retries)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import pytest

from core.classroom import store

ROOT = Path(__file__).resolve().parents[1]
ENTRY = {"word": "bank", "sentence1": "I sat on the river bank.", "sentence2": "She paid at the bank.",
         "judgement": "different", "nickname": "", "mean_jss": 0.8, "layers": [], "verdict": ""}
WRITER = textwrap.dedent("""
    import sys
    from core.classroom import store
    code = sys.argv[1]
    entry = {"word": "bank", "sentence1": "I sat on the river bank.", "sentence2": "She paid at the bank.",
             "judgement": "same", "nickname": "", "mean_jss": 0.9, "layers": [], "verdict": ""}
    for i in range(100000):
        store.submit(code, f"key-{i}", entry)
        print(f"ack key-{i}", flush=True)  # acknowledged only once committed
""")


def test_every_acknowledged_submission_survives_a_kill_9(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'rooms.sqlite'}"
    monkeypatch.setenv(store.DB_ENV, url)
    code, _key = store.create_room("demo-switch-8")
    store._ENGINES.clear()  # noqa: SLF001 - the writer process owns the file now
    proc = subprocess.Popen([sys.executable, "-c", WRITER, code], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, store.DB_ENV: url, "PYTHONPATH": str(ROOT)})
    acked = []
    assert proc.stdout is not None
    for line in proc.stdout:  # wait for acknowledgements, not for a time
        acked.append(line.split()[1])
        if len(acked) >= 40:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    acked += [line.split()[1] for line in proc.stdout.read().splitlines() if line.startswith("ack ")]
    stored = set(store.room_entries(code).idem_key)
    assert len(acked) >= 40 and set(acked) <= stored  # nothing acknowledged is lost
    assert len(stored) == len(store.room_entries(code))  # and nothing is there twice
    store._ENGINES.clear()  # noqa: SLF001


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL server (Debian's `postgresql` package; installed by `bash scripts/setup.sh --dev`)."""
    initdb = shutil.which("initdb") or next(Path("/usr/lib/postgresql").glob("*/bin/initdb"), None)
    if initdb is None:
        pytest.fail("PostgreSQL is not installed: `bash scripts/setup.sh --dev` installs Debian's postgresql.")
    bin_dir = Path(initdb).resolve().parent
    folder = Path(tempfile.mkdtemp(prefix="routing-lens-pg-"))  # not under pytest's 0700 folder: postgres reads it
    data, port = folder / "data", _free_port()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # postgres never runs as root
    if as_user:
        shutil.chown(folder, "postgres")
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True)
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log"), "-o",
                    f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_postgresql_shares_one_class_between_replicas(postgres, monkeypatch):
    """Two engines (two app replicas) on one PostgreSQL database: a room opened by one is seen by the other; eight
    threads retrying the same submissions store each exactly once; the schema is versioned there too."""
    monkeypatch.setenv(store.DB_ENV, postgres)
    code, key = store.create_room("demo-switch-8", "rev")
    store._ENGINES.clear()  # noqa: SLF001 - a second replica: a fresh engine on the same database
    assert store.room(code) is not None and store.is_teacher(code, key)
    errors: list[Exception] = []

    def replica(n: int) -> None:
        try:
            for i in range(10):
                store.submit(code, f"sub-{i}", {**ENTRY, "nickname": f"r{n}"})
        except Exception as err:  # noqa: BLE001 - collected, then asserted on
            errors.append(err)

    threads = [threading.Thread(target=replica, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    frame = store.room_entries(code)
    assert sorted(frame.idem_key) == sorted(f"sub-{i}" for i in range(10))
    assert store.migrate(store.engine()) == store.SCHEMA_VERSION
    store._ENGINES.clear()  # noqa: SLF001
