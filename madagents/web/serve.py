"""``madagents serve``: check the options, choose the model (or a cassette), print the address, run uvicorn."""

from __future__ import annotations

import functools
import secrets
import socket
from pathlib import Path
from types import FrameType

import uvicorn
from rich.console import Console
from rich.markup import escape

from madagents.errors import UserInputError
from madagents.llm.client import make_client
from madagents.session_cli import load_cassette
from madagents.settings import Settings
from madagents.web.app import LOOPBACK_NAMES, Server, check_port, create_app, is_loopback

__all__ = ["serve"]

KATEX = Path(__file__).parent / "static" / "katex" / "katex.min.js"

WILDCARDS = {"0.0.0.0", "::"}
"""Every interface: the address printed names this machine instead."""


def serve(host: str, port: int, replay: Path | None, settings: Settings, console: Console) -> None:
    token = None if is_loopback(host) else secrets.token_urlsafe(24)
    if replay is not None:
        cassette = load_cassette(replay)
        if cassette.entry != "chat":
            msg = f"{replay} records a `madagents {cassette.entry}` session; --replay needs a chat cassette"
            raise UserInputError(msg)
        # the tools run where they ran when it was recorded: the recorded turns answered what they returned
        server = Server.replaying(settings.model_copy(update={"sandbox": cassette.backend}), cassette, token)
    else:
        client = make_client(settings.llm)  # no key and no endpoint: exit 2 now, not at the first question
        server = Server(settings, lambda: client, token)
    if token is None:
        server.hosts = LOOPBACK_NAMES
    check_port(host, port)
    shown = socket.gethostname() if host in WILDCARDS else f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    say = functools.partial(console.print, highlight=False, soft_wrap=True)
    say(f"madagents serves the tutor chat at [bold]{escape(address)}[/bold]")
    if token:
        say(
            f"bound to {escape(host)}, beyond this machine: the page asks for this token (in the address above, or as "
            "the X-Madagents-Token header)"
        )
    if replay is not None:
        say(f"replaying {escape(str(replay))}: the model's answers come from the cassette")
    if not KATEX.is_file():
        say(
            "[yellow]maths is shown as TeX source: KaTeX is not installed beside the page "
            "(`bash scripts/vendor-katex.sh` in a checkout fetches it from npm)[/yellow]"
        )
    say(f"sessions in {escape(str(settings.runs_dir))}; Ctrl-C stops the server")
    config = uvicorn.Config(create_app(server), host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)
    try:
        _Uvicorn(config, server).run()
    finally:
        busy = [live.id for live in server.sessions.values() if live.busy]
        server.close()
        if busy:
            say(
                f"stopped while busy: {', '.join(busy)}; a run stopped midway continues with "
                "`madagents run --resume SESSION/runs/NN-NAME`"
            )


class _Uvicorn(uvicorn.Server):
    """Ends the open event streams at Ctrl-C, so the shutdown does not wait for the pages to go away."""

    def __init__(self, config: uvicorn.Config, server: Server) -> None:
        super().__init__(config)
        self.web = server

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.web.stopping.set()
        super().handle_exit(sig, frame)
