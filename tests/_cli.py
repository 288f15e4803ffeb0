"""Shared by the tests that drive the command line in-process (``pythonpath = ["tests"]`` in pyproject)."""

from __future__ import annotations

import pytest

from ketasim.cli import main


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``ketasim argv`` through the console entry point; returns (exit status, stdout, stderr)."""
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err
