"""``ketasim serve``: the causal chain in the browser, for teaching and for seeing what a change does.

One page (``static/``) over a JSON API (``_app``): choose a protocol or build a regimen, a patient and the
mechanism hypotheses, and every layer of the chain redraws on one time axis; pin a run to overlay the
next; run a small trial as a cancellable job; download the figure, the series (CSV) and the trial as a
scenario file that ``ketasim trial`` runs. Requests are checked against the types in ``_schema``; the
work itself is plain functions in ``_service`` (the same paths as the Python API and scenario files).

Needs the ``serve`` extra (FastAPI, uvicorn, Plotly.js from the plotly package, tomli-w).
"""

from __future__ import annotations

import ipaddress
import sys
from typing import Any

from ketasim._internal.optional import require
from ketasim.serve._app import create_app
from ketasim.serve._schema import Limits, SimulateRequest, TrialRequest

__all__ = ["Limits", "SimulateRequest", "TrialRequest", "create_app", "is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(host: str = "127.0.0.1", port: int = 8000, limits: Limits | None = None, warm: bool = True) -> None:
    """Run the explorer until interrupted. Binding to another host than loopback is allowed only when
    asked for, and warned about: the server has no authentication."""
    uvicorn: Any = require("uvicorn", "ketasim serve")
    from ketasim.serve._app import LOOPBACK_HOSTS

    app = create_app(limits, trusted_hosts=LOOPBACK_HOSTS if is_loopback(host) else None)
    if not is_loopback(host):
        print(f"WARNING: serving on {host}: anyone who can reach this address can use the explorer (no "
              "authentication, shared compute). Use 127.0.0.1 unless you mean it.", file=sys.stderr)  # fmt: skip
    if warm:  # compile (or load) the model before the first page asks, so its first update is quick
        from ketasim.serve import _service

        _service.simulate(SimulateRequest())
    shown = f"[{host}]" if ":" in host else host
    print(f"ketasim explorer on http://{shown}:{port}/  (Ctrl+C stops it)", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level="warning")
