#!/usr/bin/env bash
# Regenerate requirements.lock: every package the test command installs (all extras), pinned, for
# Python 3.11 on Linux. uv keeps the versions already in the lock unless the ranges in pyproject.toml
# exclude them; `tools/lock.sh --upgrade` (or --upgrade-package NAME) moves them forward.
set -euo pipefail
cd "$(dirname "$0")/.."
python3.11 -m pip install -q uv
python3.11 -m uv pip compile pyproject.toml --extra test --python-version 3.11 --python-platform linux \
    --no-header --output-file requirements.lock "$@"
