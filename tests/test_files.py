"""Atomic result files: complete or absent, with the permissions of any new file."""

import os
import stat

import pytest

from ketasim._internal.files import atomic_path, atomic_write_text


def test_a_written_file_gets_the_umask_permissions_not_the_temporary_files(tmp_path):
    mask = os.umask(0o022)
    try:
        out = atomic_write_text(tmp_path / "r.json", "{}")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask


def test_an_interrupted_write_leaves_neither_the_file_nor_a_temporary(tmp_path):
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "r.parquet") as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
