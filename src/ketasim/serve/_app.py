"""The explorer's web application (FastAPI): one page, its assets, and the JSON API behind it.

::

    GET    /                      the page (static/index.html); every asset is served from the package
    GET    /static/...            the page's script and style, and Plotly.js from the installed plotly
    GET    /api/options           choices and limits the page builds its controls from
    GET    /api/protocols         the named protocols with their sources
    GET    /api/parameters        every parameter with value, unit and citation
    POST   /api/simulate          one patient, every layer of the chain          -> 200 | 422
    POST   /api/scenario          a trial as TOML that `ketasim trial` runs      -> 200 | 422
    POST   /api/trials            start a trial job                              -> 202 | 422 | 429
    GET    /api/trials/{id}       its state, progress and, when done, result     -> 200 | 404
    DELETE /api/trials/{id}       cancel it                                      -> 200 | 404

Every refusal is JSON ``{"message", "field", "detail"}`` (``ErrorBody``) whose message names the field and
the allowed range; nothing the server answers contains a traceback. No request names a file.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

from ketasim._internal.optional import require
from ketasim.errors import InputError
from ketasim.serve import _service
from ketasim.serve._jobs import JobBusyError, Jobs
from ketasim.serve._schema import ErrorBody, Limits, SimulateRequest, TrialRequest

__all__ = ["create_app"]

log = logging.getLogger("ketasim.serve")

_REFUSED: dict[int | str, dict[str, Any]] = {422: {"model": ErrorBody, "description": "the request is refused; "
                                                   "the message names the field and the allowed range"}}  # fmt: skip


def _plotly_js() -> Path:
    plotly = require("plotly", "the explorer's plots (Plotly.js)")
    return Path(str(plotly.__file__)).parent / "package_data" / "plotly.min.js"


def _loc(loc: Any, kind: str = "") -> str:
    if kind == "json_invalid":  # the location is a byte offset into malformed JSON, not a field
        return "body"
    parts = [str(x) for x in loc if x not in ("body",)]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


#: Largest request body accepted (bytes): the largest valid request is a few kB.
MAX_BODY_BYTES = 1_000_000
#: Host headers a loopback server answers (a page on another site that resolves its own name to 127.0.0.1,
#: "DNS rebinding", would otherwise reach it from the user's browser).
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


def create_app(limits: Limits | None = None, trusted_hosts: list[str] | None = None) -> Any:
    """The application; ``limits`` bound the trials this server runs (``Limits``); ``trusted_hosts``: the
    Host headers it answers (``serve`` passes ``LOOPBACK_HOSTS`` when bound to loopback; None: any)."""
    require("fastapi", "ketasim serve")
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
    from fastapi.staticfiles import StaticFiles
    from starlette.exceptions import HTTPException
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    limits = limits or Limits()
    jobs = Jobs()
    # no /docs or /redoc: FastAPI's pages load their scripts from a CDN, and nothing here may; the schema
    # itself is at /openapi.json
    app = FastAPI(title="ketasim explorer", version=_version(), docs_url=None, redoc_url=None,
                  description="The causal chain of ketamine's antidepressant action, one patient or a small "
                  "trial at a time. Research and teaching software, not a clinical dosing tool.")  # fmt: skip
    static = resources.files("ketasim.serve") / "static"
    if trusted_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=trusted_hosts)

    @app.middleware("http")
    async def _bounded_body(request: Request, call_next: Any) -> Any:
        size = request.headers.get("content-length", "0")
        if not size.isdigit() or int(size) > MAX_BODY_BYTES:
            return refuse(413, "body", f"must be at most {MAX_BODY_BYTES:,} bytes (with a Content-Length)")
        return await call_next(request)

    def refuse(status: int, field: str, message: str, detail: list[dict[str, Any]] | None = None) -> Any:
        body = ErrorBody(message=f"{field}: {message}", field=field, detail=detail or [])
        return JSONResponse(body.model_dump(), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Any:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = _loc(first.get("loc", ()), str(first.get("type", "")))
        msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        if ": " in msg and msg.split(": ", 1)[0].replace("_", "").replace("[", "").replace("]", "").isalnum():
            inner, msg = msg.split(": ", 1)  # a model check that names its own field
            field = f"{field}.{inner}" if field != "body" else inner
        detail = [{"field": _loc(e.get("loc", ()), str(e.get("type", ""))), "message": str(e.get("msg", ""))}
                  for e in errors[:20]]  # fmt: skip
        return refuse(422, field, msg, detail)

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> Any:
        return refuse(422, exc.field, exc.message + (f" (got {exc.got})" if exc.got is not None else ""))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Any:  # unknown paths, wrong methods
        what = {404: "no such page or API path", 405: "this path does not take that method"}
        return refuse(exc.status_code, "path", what.get(exc.status_code, str(exc.detail)))

    @app.exception_handler(JobBusyError)
    async def _busy(request: Request, exc: JobBusyError) -> Any:
        return refuse(429, "trial", "another trial is running on this server; wait for it or cancel it")

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Any:
        log.exception("request %s %s failed", request.method, request.url.path)
        return refuse(500, "server", "the server failed on this request (its log has the details)")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> Any:
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"))

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Any:
        return FileResponse(_plotly_js(), media_type="text/javascript")

    app.mount("/static", StaticFiles(packages=[("ketasim.serve", "static")]), name="static")

    @app.get("/api/options", summary="Choices and limits for the page's controls")
    def options() -> dict[str, Any]:
        return _service.options(limits)

    @app.get("/api/protocols", summary="The named clinical protocols with their sources")
    def protocol_list() -> list[dict[str, str]]:
        from ketasim.dosing import protocols

        return protocols.table()

    @app.get("/api/parameters", summary="Every model parameter with value, unit and citation")
    def parameter_list() -> list[dict[str, Any]]:
        return _service.parameters()

    @app.post("/api/simulate", responses=_REFUSED, summary="One patient: every layer of the chain")
    def simulate(req: SimulateRequest) -> dict[str, Any]:
        return _service.simulate(req)

    @app.post("/api/scenario", responses=_REFUSED, response_class=PlainTextResponse,
              summary="A trial as a scenario file (TOML) that `ketasim trial` runs")  # fmt: skip
    def scenario(req: TrialRequest) -> Any:
        attachment = {"Content-Disposition": 'attachment; filename="ketasim-trial.toml"'}
        return PlainTextResponse(_service.scenario_toml(req, limits), media_type="application/toml", headers=attachment)

    @app.post("/api/trials", status_code=202, summary="Start a trial job (one at a time)",
              responses={**_REFUSED, 429: {"model": ErrorBody, "description": "another trial is running"}})  # fmt: skip
    def start_trial(req: TrialRequest) -> dict[str, Any]:
        sc = _service.scenario(req, limits)  # a bad request is refused now, not inside the job
        job = jobs.start(lambda progress, cancel: _service.run_trial(sc, progress, cancel))
        return job.view()

    @app.get("/api/trials/{job_id}", summary="A trial job's state, progress and result",
             responses={404: {"model": ErrorBody, "description": "no such job"}})  # fmt: skip
    def trial_state(job_id: str) -> Any:
        job = jobs.get(job_id)
        return job.view() if job is not None else refuse(404, "job_id", "no such trial job (finished jobs "
                                                          "are kept for 10 minutes)")  # fmt: skip

    @app.delete("/api/trials/{job_id}", summary="Cancel a trial job",
                responses={404: {"model": ErrorBody, "description": "no such job"}})  # fmt: skip
    def trial_cancel(job_id: str) -> Any:
        job = jobs.cancel(job_id)
        return job.view() if job is not None else refuse(404, "job_id", "no such trial job")

    app.state.jobs = jobs
    return app


def _version() -> str:
    from ketasim._internal.meta import VERSION

    return VERSION
