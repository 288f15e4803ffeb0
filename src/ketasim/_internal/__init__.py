"""Shared infrastructure for every layer: atomic files, JSON cleaning, argument checks, Dask maps.

Nothing here knows about pharmacology; every module of ketasim may import it, and it imports only
``ketasim.errors``.
"""

__all__: list[str] = []
