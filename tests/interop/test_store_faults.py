"""Issue 15: the results store and every output file under faults -- a second process holding the store,
read-only and full file systems, bad store paths. Each is one line on stderr, exit status 2, naming the
file; nothing half-written is left behind.

Real file systems are used where the machine allows it (a small tmpfs, mounted read-only or filled up);
where it does not (no permission to mount), the same paths are driven by a simulated ``OSError``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _cli import cli
from ketasim.errors import OutputError
from ketasim.interop.store import Store, list_runs

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = str(ROOT / "examples" / "murrough2013_ketamine_vs_midazolam.toml")


def _one_line_error(code: int, err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    return lines[0]


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    """A store holding one small run."""
    db = tmp_path_factory.mktemp("store") / "runs.duckdb"
    main_ok = subprocess.run([sys.executable, "-m", "ketasim.cli", "trial", SCENARIO, "--patients", "12", "--db", str(db)],
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert main_ok.returncode == 0, main_ok.stderr
    return db


# ----------------------------------------------------------------------------------- bad store paths


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda d: "", "must be a file name"),
        (lambda d: str(d), "is a folder"),
        (lambda d: (d / "notes.txt").write_text("hello") and str(d / "notes.txt"), "not a DuckDB results store"),
    ],
)
def test_a_bad_store_path_is_one_line(capsys, tmp_path, make, says):
    db = make(tmp_path)
    for argv in (["runs", "--db", db], ["trial", SCENARIO, "--patients", "4", "--db", db]):
        line = _one_line_error(*cli(capsys, *argv)[::2])
        assert line.startswith("error: db:") and says in line


def test_reading_never_creates_a_store(capsys, tmp_path):
    line = _one_line_error(*cli(capsys, "runs", "--db", str(tmp_path / "none.duckdb"))[::2])
    assert "no results store" in line
    assert not (tmp_path / "none.duckdb").exists()


# ---------------------------------------------------------------------------------- a second process


def _hold(db: Path, seconds: float) -> subprocess.Popen[str]:
    code = (f"import time\nfrom ketasim.interop.store import Store\ns = Store({str(db)!r})\n"
            f"print('holding', flush=True)\ntime.sleep({seconds})\ns.close()\n")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def test_a_store_held_by_another_process_is_waited_for_then_named_with_its_holder(capsys, stored, monkeypatch):
    holder = _hold(stored, 30)
    try:
        monkeypatch.setenv("KETASIM_STORE_WAIT", "1")
        t0 = time.monotonic()
        code, _, err = cli(capsys, "runs", "--db", str(stored))
        waited = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait()
    line = _one_line_error(code, err.split("waiting up to 1 s")[-1])
    assert str(stored) in line and f"PID {holder.pid}" in line and "in use by another process" in line
    assert "waiting up to 1 s" in err  # said while it waited
    assert 0.9 < waited < 10


def test_a_reader_waits_for_a_writer_that_finishes(capsys, stored, monkeypatch):
    holder = _hold(stored, 1.5)
    monkeypatch.setenv("KETASIM_STORE_WAIT", "30")
    code, out, err = cli(capsys, "runs", "--db", str(stored), "--json")
    holder.wait()
    assert code == 0, err
    assert '"run_id"' in out and "waiting up to 30 s" in err


def test_an_impossible_wait_setting_is_refused(capsys, stored, monkeypatch):
    monkeypatch.setenv("KETASIM_STORE_WAIT", "soon")
    line = _one_line_error(*cli(capsys, "runs", "--db", str(stored))[::2])
    assert "KETASIM_STORE_WAIT" in line


# --------------------------------------------------------------------- read-only and full file systems


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> object:
    path.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:  # fmt: skip
        pytest.skip("this machine does not allow mounting a file system (the simulated variants run instead)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_store_on_a_read_only_file_system_is_listed_and_reported_but_not_written(capsys, stored, tmp_path):
    with _tmpfs(tmp_path / "ro", "16m") as mnt:
        db = mnt / "runs.duckdb"
        db.write_bytes(stored.read_bytes())
        assert subprocess.run(["mount", "-o", "remount,ro", str(mnt)]).returncode == 0
        code, out, err = cli(capsys, "runs", "--db", str(db), "--json")
        assert code == 0, err
        run_id = out.split('"run_id": "')[1].split('"')[0]
        code, out, err = cli(capsys, "report", run_id, "--db", str(db), "--json")
        assert code == 0 and run_id in out, err
        line = _one_line_error(*cli(capsys, "trial", SCENARIO, "--patients", "4", "--db", str(db))[::2])
        assert str(db) in line and "Read-only file system" in line
        line = _one_line_error(*cli(capsys, "report", run_id, "--db", str(db), "--plot", str(mnt / "f.png"))[::2])
        assert str(mnt / "f.png") in line and "Read-only file system" in line


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(capsys, tmp_path):
    with _tmpfs(tmp_path / "full", "400k") as mnt:
        # the figure and the JSON need more than the space there is
        (mnt / "filler").write_bytes(b"\0" * 300_000)
        line = _one_line_error(*cli(capsys, "simulate", "--protocol", "zarate-2006-iv", "--days", "1",
                                    "--plot", str(mnt / "fig.png"))[::2])  # fmt: skip
        assert str(mnt / "fig.png") in line and "No space left on device" in line
        assert sorted(p.name for p in mnt.iterdir()) == ["filler"]  # no temporary, no half figure
        # a store filling the disk mid-run: the run is refused whole
        line = _one_line_error(
            *cli(capsys, "trial", SCENARIO, "--patients", "3000", "--db", str(mnt / "r.duckdb"))[::2]
        )
        assert str(mnt / "r.duckdb") in line and "No space left on device" in line


def test_a_refused_write_is_one_line_naming_the_path_simulated(capsys, tmp_path, monkeypatch):
    """The same paths where no file system can be mounted: os.replace refused as a full disk would."""

    def full(*args: object, **kw: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)
    line = _one_line_error(*cli(capsys, "simulate", "--protocol", "zarate-2006-iv", "--days", "1",
                                "--out", str(tmp_path / "s.json"))[::2])  # fmt: skip
    assert str(tmp_path / "s.json") in line and "No space left on device" in line
    assert list(tmp_path.iterdir()) == []


def test_a_store_that_cannot_be_written_is_one_line_simulated(capsys, stored, monkeypatch):
    import duckdb

    real = duckdb.connect

    def read_only_fs(path: str, read_only: bool = False, **kw: object):
        if not read_only:
            raise duckdb.IOException(f'IO Error: Cannot open file "{path}": Read-only file system')
        return real(path, read_only=True, **kw)

    monkeypatch.setattr(duckdb, "connect", read_only_fs)
    assert len(list_runs(stored)) == 1  # reading opens read-only
    line = _one_line_error(*cli(capsys, "trial", SCENARIO, "--patients", "4", "--db", str(stored))[::2])
    assert str(stored) in line and "Read-only file system" in line
    with pytest.raises(OutputError, match="Read-only file system"):
        Store(stored)


def test_an_output_path_that_is_a_folder_is_one_line(capsys, tmp_path):
    line = _one_line_error(*cli(capsys, "simulate", "--protocol", "zarate-2006-iv", "--days", "1",
                                "--out", str(tmp_path))[::2])  # fmt: skip
    assert "is a folder" in line and str(tmp_path) in line
