"""The demo camera's face crossing the bar, through the real CPU face engine (live schedule), frame by frame.

What the cluster test with the real engine (tests/cluster/test_real_engine.py) saw as "2 face pixels
at a mask's edge on frame 103", reproduced without Ray, load or timing: the low-latency render shows a
frame with the masks the engine computed on that same frame whenever the engine keeps up (age 0: no
motion envelope, no change guard), so the engine's own masks are all that hide it. Deterministic: the
engine's clock is the frames' media time.
"""

from __future__ import annotations

import numpy as np
import pytest

from livefilter.config.loader import parse_config
from livefilter.engines import create_engine
from livefilter.types import Frame, Prompt
from tests.cluster.frames import DEMO, Judge

pytestmark = pytest.mark.slow


def uncovered_frames(last: int) -> list[tuple[int, int]]:
    """(index, face pixels outside every mask) of the demo frames 0..``last`` the cluster's judge would
    call a leak (it excuses a face coming out from behind the bar), the engine taking every frame."""
    config = parse_config({"source": DEMO, "engine": {"kind": "cpu-face"}})
    engine = create_engine(config.engine, [Prompt("face", 0.5)], kind="cpu-face", exact=False)
    engine.open()
    judge = Judge(DEMO)
    found = []
    for index in range(last + 1):
        image, face = judge.truth(index)
        t = index / DEMO["fps"]
        masks = engine.infer(Frame(image=image, index=index, t_capture=t, pts=t))
        covered = masks.masks.any(axis=0) if len(masks) else np.zeros_like(face)
        shown = int((face & ~covered).sum())
        if shown and not judge.reappears(index):
            found.append((index, shown))
    engine.close()
    return found


@pytest.mark.xfail(
    strict=True,
    reason="issue 9, not finished: a face partly behind the demo's bar is missed by the detector (a sliver up to "
    "~10 px wide shows on the far side), and its held track follows a velocity that lags the demo's sharply "
    "curving path (frame 103: track (-162, +203) px/s, face (-295, -221)): the track's box, grown by "
    "0.5 size/s + 0.25 x its shift, misses the sliver. A render-like envelope (speed x age in every "
    "direction around the swept box) covers it but took the demo's over-redaction from 9.5 % to 34 %",
)
def test_the_engine_covers_the_demo_face_while_it_crosses_the_bar() -> None:
    assert uncovered_frames(110) == []
