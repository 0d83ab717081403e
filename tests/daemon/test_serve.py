"""``livefilter serve`` as a process: SIGHUP reloads, SIGTERM drains and finalises files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_sigterm_finalises_the_files_and_sighup_reloads(tmp_path: Path) -> None:
    out = tmp_path / "door.mp4"
    site = {
        "engine": {"kind": "cpu-face"},
        "http": {"port": 0},
        "reload": {"watch": False},
        "audit": {"path": str(tmp_path / "audit.jsonl")},
        "cameras": {
            "door": {
                "source": {"kind": "demo", "width": 320, "height": 180, "fps": 10, "duration_s": None},
                "sinks": [{"kind": "file", "path": str(out)}],
            }
        },
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "livefilter", "serve", str(path)], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        audit = tmp_path / "audit.jsonl"
        deadline = time.monotonic() + 60
        while "camera_start" not in (audit.read_text() if audit.exists() else ""):
            assert time.monotonic() < deadline and process.poll() is None, "the daemon did not start"
            time.sleep(0.1)
        time.sleep(2.0)
        site["cameras"]["door"]["prompts"] = ["head"]
        path.write_text(yaml.safe_dump(site))
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while '"reload"' not in audit.read_text():
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            time.sleep(0.1)
        time.sleep(2.0)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM, err[-2000:]
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [e["event"] for e in events if e["event"] in ("reload", "daemon_stop")] == ["reload", "daemon_stop"]
    assert events[-2]["event"] == "camera_stop"  # the camera was drained before the daemon stopped
    with av.open(str(out)) as container:  # a finalised file: its index is written
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 10
