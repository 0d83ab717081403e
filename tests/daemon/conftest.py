"""A daemon on 127.0.0.1 with real pipelines and the real shared CPU face engine."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from livefilter.daemon.config import load_site, parse_site
from livefilter.daemon.http import ControlServer
from livefilter.daemon.service import Daemon

DEMO = {"kind": "demo", "width": 320, "height": 180, "fps": 10.0, "duration_s": None}
QUICK = {"retry": {"min_s": 0.1, "max_s": 0.4}, "engine": {"kind": "cpu-face"}, "http": {"port": 0}}


class Running:
    """A started daemon and its control server; ``get``/``put`` talk to it over HTTP."""

    def __init__(self, daemon: Daemon, server: ControlServer, token: str | None = None) -> None:
        self.daemon, self.server, self.token = daemon, server, token

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.server.port}{path}", data=data, method=method)
        if token or self.token:
            request.add_header("Authorization", f"Bearer {token or self.token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        text = raw.decode()
        return status, json.loads(text) if text.startswith(("{", "[")) else text

    def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.request("GET", path, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
        return self.request("PUT", path, body, **kw)


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """``start_daemon(site_dict, write=False)``: a running daemon (from a file when ``write``)."""
    started: list[Running] = []

    def start(site: dict[str, Any], *, write: bool = False) -> Running:
        site = {**QUICK, **site}
        site.setdefault("audit", {"path": str(tmp_path / "audit.jsonl")})
        if write:
            path = tmp_path / "site.yaml"
            path.write_text(yaml.safe_dump(site))
            daemon = Daemon(load_site(path), path=str(path))
        else:
            daemon = Daemon(parse_site(site))
        daemon.start()
        server = ControlServer(daemon, daemon.site.http)
        server.open()
        running = Running(daemon, server, daemon.site.http.token)
        started.append(running)
        return running

    yield start
    for running in started:
        running.server.close()
        running.daemon.stop()


def audit_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]
