"""The installed package version, recorded in every stored run and generated table."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["VERSION"]

try:
    VERSION = version("ketasim")
except PackageNotFoundError:  # running from a source tree
    VERSION = "0.0.0"
