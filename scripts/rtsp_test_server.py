#!/usr/bin/python3
"""The RTSP relay server for tests and benchmarks: runs ``livefilter/sinks/rtsp_relay.py``.

    /usr/bin/python3 scripts/rtsp_test_server.py --port 8554 --relay cam --relay out

Publish to ``rtsp://127.0.0.1:8554/publish/cam``, read ``rtsp://127.0.0.1:8554/cam``. Run it
with the system Python (its python3-gi sees GStreamer; ``scripts/install_system_deps.sh``).
"""

import runpy
from pathlib import Path

RELAY = Path(__file__).resolve().parents[1] / "livefilter" / "sinks" / "rtsp_relay.py"

if __name__ == "__main__":
    runpy.run_path(str(RELAY), run_name="__main__")
