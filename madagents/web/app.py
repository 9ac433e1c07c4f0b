"""The web server: one page, a JSON API, and each open session's events as a server-sent event stream."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from madagents.errors import UserInputError
from madagents.llm.cassette import Cassette, ReplayClient
from madagents.llm.client import ModelClient
from madagents.settings import Settings
from madagents.web import browse
from madagents.web.live import LiveSession

__all__ = ["LOOPBACK_NAMES", "Server", "check_port", "create_app", "is_loopback"]

HERE = Path(__file__).parent
TOKEN_COOKIE = "madagents_token"
TOKEN_HEADER = "x-madagents-token"
POLL_S = 0.1
KEEPALIVE_S = 15.0
REPLAY_WORD_DELAY_S = 0.03
"""A replayed answer arrives word by word at about the pace of a hosted model."""
YES_NO = {"y", "yes", "n", "no"}
LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1"]
"""Host headers a server bound to localhost answers: a page of another site that its DNS points at 127.0.0.1
(DNS rebinding) sends its own name and is refused."""


class Say(BaseModel):
    text: str = Field(min_length=1, max_length=20_000)


class Confirm(BaseModel):
    yes: bool


class Server:
    """What the routes share: the settings, how to reach the model, the sessions open in this process, the token."""

    def __init__(
        self,
        settings: Settings,
        models: Callable[[], ModelClient],
        token: str | None = None,
        hosts: list[str] | None = None,
    ) -> None:
        self.settings = settings
        self.models = models
        self.token = token
        self.hosts = hosts
        """The Host headers answered (None: any, as behind the token)."""
        self.replay: Cassette | None = None
        self.sessions: dict[str, LiveSession] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        """Set when the server shuts down: the event streams end, so the shutdown does not wait for the tabs."""

    @classmethod
    def replaying(cls, settings: Settings, cassette: Cassette, token: str | None = None) -> Server:
        """Every session answered from ``cassette`` (its own copy, so several can replay it at once)."""
        server = cls(settings, lambda: ReplayClient(cassette, token_delay_s=REPLAY_WORD_DELAY_S), token)
        server.replay = cassette
        return server

    def new_session(self) -> LiveSession:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        path = self.settings.runs_dir / f"chat-{stamp}-{uuid.uuid4().hex[:4]}"
        live = LiveSession(path, self.settings, self.models(), resume=False)
        with self._lock:
            self.sessions[live.id] = live
        return live

    def open_session(self, session_id: str) -> LiveSession:
        with self._lock:
            live = self.sessions.get(session_id)
            if live is None:
                path = browse.session_dir(self.settings.runs_dir, session_id)
                live = LiveSession(path, self.settings, self.models(), resume=True)
                self.sessions[session_id] = live
            return live

    def live(self, session_id: str) -> LiveSession:
        live = self.sessions.get(session_id)
        if live is None:
            raise HTTPException(404, f"session {session_id!r} is not open; open it first")
        return live

    def close(self) -> None:
        with self._lock:
            for live in self.sessions.values():
                live.close()
            self.sessions.clear()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_app(server: Server) -> FastAPI:
    app = FastAPI(title="madagents", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    if server.token is not None:
        _require_token(app, server.token)
    if server.hosts is not None:
        _require_host(app, server.hosts)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return (HERE / "templates" / "index.html").read_text()

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        questions = []
        if server.replay is not None:  # what the recorded student typed: the page suggests it
            questions = [q for q in server.replay.user_inputs if not q.startswith("/") and q.lower() not in YES_NO]
        return {"replay": server.replay is not None, "questions": questions, "runs_dir": str(server.settings.runs_dir)}

    _session_routes(app, server)
    _run_routes(app, server)
    return app


def _session_routes(app: FastAPI, server: Server) -> None:
    """List, start, open and talk to sessions; follow one's events."""

    @app.get("/api/sessions")
    def sessions() -> list[dict[str, Any]]:
        found = browse.list_sessions(server.settings.runs_dir)
        for session in found:
            live = server.sessions.get(session["id"])
            session["open"] = live is not None
            session["busy"] = live is not None and live.busy
        return found

    @app.post("/api/sessions")
    def new_session() -> dict[str, str]:
        try:
            return {"id": server.new_session().id}
        except UserInputError as exc:
            raise HTTPException(409, str(exc)) from None

    @app.post("/api/sessions/{session_id}/open")
    def open_session(session_id: str) -> dict[str, str]:
        try:
            return {"id": server.open_session(session_id).id}
        except browse.NotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        except UserInputError as exc:  # held by a terminal chat, or damaged
            raise HTTPException(409, str(exc)) from None

    @app.post("/api/sessions/{session_id}/say")
    def say(session_id: str, body: Say) -> dict[str, bool]:
        if not server.live(session_id).say(body.text.strip()):
            raise HTTPException(409, "the tutor is still answering; wait for it, or answer its question")
        return {"ok": True}

    @app.post("/api/sessions/{session_id}/confirm")
    def confirm(session_id: str, body: Confirm) -> dict[str, bool]:
        if not server.live(session_id).answer(body.yes):
            raise HTTPException(409, "there is no question to answer")
        return {"ok": True}

    @app.get("/api/sessions/{session_id}/events")
    async def events(session_id: str, request: Request) -> StreamingResponse:
        live = server.live(session_id)
        after = int(request.headers.get("last-event-id", "0") or 0)
        return StreamingResponse(
            _stream(live, after, request, server.stopping),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


def _run_routes(app: FastAPI, server: Server) -> None:
    """The run browser: a run's report, plots and file list, and its files."""

    @app.get("/api/sessions/{session_id}/runs/{run_name:path}")
    def run(session_id: str, run_name: str) -> dict[str, Any]:
        try:
            return browse.run_details(browse.session_dir(server.settings.runs_dir, session_id), run_name)
        except browse.NotFoundError as exc:
            raise HTTPException(404, str(exc)) from None

    @app.get("/files/{session_id}/{relative:path}")
    def file(session_id: str, relative: str, download: bool = False) -> FileResponse:
        try:
            path = browse.session_file(browse.session_dir(server.settings.runs_dir, session_id), relative)
        except browse.NotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        # only pictures are shown inline; anything else (a run's HTML, SVG) is a download, never a page of this site
        inline = path.suffix.lower() in {".png", ".jpg", ".jpeg"} and not download
        return FileResponse(
            path,
            filename=path.name,
            content_disposition_type="inline" if inline else "attachment",
            headers={"X-Content-Type-Options": "nosniff"},
        )


async def _stream(live: LiveSession, after: int, request: Request, stopping: threading.Event) -> AsyncIterator[str]:
    """The session's events after ``after``, then each new one as it comes; the browser resumes with Last-Event-ID."""
    quiet = 0.0
    while not stopping.is_set() and not await request.is_disconnected():
        fresh = live.log.since(after)
        for event in fresh:
            after = event["seq"]
            yield f"id: {after}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
        quiet = 0.0 if fresh else quiet + POLL_S
        if quiet >= KEEPALIVE_S:  # a comment line keeps proxies from closing an idle stream
            quiet = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_S)


def _require_host(app: FastAPI, hosts: list[str]) -> None:
    @app.middleware("http")
    async def check(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.hostname not in hosts:  # the Host header's name; an IPv6 address without its brackets
            return JSONResponse({"detail": f"this server answers only as {', '.join(hosts)}"}, status_code=400)
        return await call_next(request)


def _require_token(app: FastAPI, token: str) -> None:
    """Bound beyond localhost: every request shows the token (header, or the cookie set by the printed URL)."""

    @app.middleware("http")
    async def check(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        given = request.query_params.get("token")
        if given is not None and secrets.compare_digest(given, token):
            response = RedirectResponse(request.url.remove_query_params("token"), status_code=303)
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
            return response
        shown = request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE) or ""
        if not secrets.compare_digest(shown, token):
            return JSONResponse(
                {"detail": "this madagents server asks for its token: open the address `madagents serve` printed"},
                status_code=401,
            )
        return await call_next(request)


def check_port(host: str, port: int) -> None:
    """Fail with a clear message before uvicorn does with a traceback-like log."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            msg = f"cannot listen on {host}:{port}: {exc.strerror or exc}; give another --port or --host"
            raise UserInputError(msg) from None
