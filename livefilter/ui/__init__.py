"""``livefilter ui``: a browser UI (Gradio) over the same pipeline as the CLI.

Install with ``pip install -e ".[ui]"``. Tabs: image, video, live webcam (with
click-to-track). Only redacted pictures ever leave the server.
"""

from __future__ import annotations

from livefilter.ui.server import exposure_warning, launch

__all__ = ["exposure_warning", "launch"]
