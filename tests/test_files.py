"""Atomic result files: complete or absent, with the permissions of any new file."""

import os
import stat

import pytest

from ketasim._internal.files import atomic_path, atomic_write_text


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_written_file_gets_the_umask_permissions_not_the_temporary_files(tmp_path, umask):
    """Issue 15: every result file was 0600 (the temporary's mode); now the user's umask at the time of writing."""
    old = os.umask(umask)
    try:
        out = atomic_write_text(tmp_path / "r.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_rewriting_a_file_keeps_its_mode(tmp_path):
    out = atomic_write_text(tmp_path / "r.json", "{}")
    out.chmod(0o640)
    atomic_write_text(out, '{"again": true}')
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and out.read_text() == '{"again": true}'


def test_an_interrupted_write_leaves_neither_the_file_nor_a_temporary(tmp_path):
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "r.parquet") as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
