"""The audit log: JSON lines, rotated, secrets masked."""

from __future__ import annotations

import json
from pathlib import Path

from livefilter.daemon.audit import AuditLog


def test_events_are_json_lines_rotated_with_backups(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    with AuditLog(str(path), max_bytes=10_000, backups=2) as log:
        for i in range(400):
            log.event("fail_closed_start", camera="door", reason="source_silent", n=i)
    files = sorted(tmp_path.joinpath("logs").iterdir())
    assert [f.name for f in files] == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    assert all(f.stat().st_size <= 10_000 for f in files)
    last = [json.loads(line) for line in path.read_text().splitlines()]
    assert last[-1]["n"] == 399 and last[-1]["event"] == "fail_closed_start" and last[-1]["ts"].endswith("+00:00")


def test_url_passwords_are_masked_in_every_value(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(str(path)) as log:
        log.event("camera_start_failed", camera="door",
                  error="cannot open rtsp://admin:hunter2@10.0.0.5/s", nested={"urls": ["rtsp://u:pw9@h/x"]})
    text = path.read_text()
    assert "hunter2" not in text and "pw9" not in text
    assert "rtsp://admin:***@10.0.0.5/s" in text and "rtsp://u:***@h/x" in text
