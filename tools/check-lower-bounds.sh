#!/usr/bin/env bash
# Install the oldest versions pyproject.toml allows for every direct dependency (uv's lowest-direct
# resolution) into a scratch venv and run the whole suite there. A failure means a lower bound in
# pyproject.toml is wrong: raise it to the oldest version that passes. Takes ~10 min; not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-/tmp/ketasim-lower-bounds}"
rm -rf "$venv" && python3.11 -m venv "$venv"
git clone -q . "$venv/src-copy" && cd "$venv/src-copy"   # the committed tree, safe from edits meanwhile
"$venv/bin/pip" install -q uv
"$venv/bin/uv" pip compile pyproject.toml --extra test --python-version 3.11 --resolution lowest-direct \
    --no-header --quiet -o "$venv/lowest.txt"
"$venv/bin/uv" pip install --python "$venv/bin/python" -q -r "$venv/lowest.txt" -e .
grep -E '^(numpy|scipy|numba|pandas|xarray|matplotlib|pint|pydantic|typer|duckdb|statsmodels)==' "$venv/lowest.txt"
# ruff and mypy are left out: their findings follow the linters' and the libraries' type stubs (older
# numpy stubs type some indexing differently), not what runs; CI lints against requirements.lock
KETASIM_CACHE_DIR="$venv/cache" "$venv/bin/python" -m pytest -q -p no:cacheprovider \
    --deselect tests/test_architecture.py::test_ruff_is_clean --deselect tests/test_architecture.py::test_mypy_is_clean
