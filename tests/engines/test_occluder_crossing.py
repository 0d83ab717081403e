"""The demo camera's face crossing the bar, through the real CPU face engine (live schedule), frame by frame.

What the cluster test with the real engine (tests/cluster/test_real_engine.py) saw as "2 face pixels
at a mask's edge on frame 103", reproduced without Ray, load or timing: the low-latency render shows a
frame with the masks the engine computed on that same frame whenever the engine keeps up (age 0: no
motion envelope, no change guard), so the engine's own masks are all that hide it. Deterministic: the
engine's clock is the frames' media time.

Partly behind the bar the detector misses the face (a sliver up to ~10 px wide shows on the far
side) for a frame or two, while it turns sharply (frame 103: velocity (-162, +203) px/s at the last
detection, (-295, -221) two frames later). A track held along the tangent it left on missed the
sliver on frames 92 and 103; the tracker's fitted acceleration carries it round the curve
(tests/engines/test_tracking.py has the same on a synthetic circle).
"""

from __future__ import annotations

import numpy as np
import pytest

from livefilter.config.loader import parse_config
from livefilter.engines import create_engine
from livefilter.types import Frame, Prompt
from tests.cluster.frames import DEMO, Judge

pytestmark = pytest.mark.slow


def crossing(last: int, step: int = 1) -> tuple[list[tuple[int, int]], float]:
    """(index, face pixels outside every mask) of the demo frames 0..``last`` the cluster's judge would
    call a leak (it excuses a face coming out from behind the bar), the engine taking every ``step``-th
    frame (2: a busy machine's 5 fps); and the share of non-face pixels the masks cover (over-redaction,
    issue 16)."""
    config = parse_config({"source": DEMO, "engine": {"kind": "cpu-face"}})
    engine = create_engine(config.engine, [Prompt("face", 0.5)], kind="cpu-face", exact=False)
    engine.open()
    judge = Judge(DEMO)
    found = []
    over = nonface = 0
    for index in range(0, last + 1, step):
        image, face = judge.truth(index)
        t = index / DEMO["fps"]
        masks = engine.infer(Frame(image=image, index=index, t_capture=t, pts=t))
        covered = masks.masks.any(axis=0) if len(masks) else np.zeros_like(face)
        shown = int((face & ~covered).sum())
        if shown and not judge.reappears(index):
            found.append((index, shown))
        over += int((covered & ~face).sum())
        nonface += int((~face).sum())
    engine.close()
    return found, over / nonface


def test_the_engine_covers_the_demo_face_while_it_crosses_the_bar_without_hiding_more() -> None:
    """A minute of the demo (six crossings each way). Along the tangent: 21 frames leaked, 9.8 % of the
    non-face pixels hidden; a motion envelope around the swept box (speed x age every way) covered the
    slivers at 34 %."""
    leaked, over = crossing(600)
    assert leaked == []
    assert over < 0.08, f"masks cover {100 * over:.1f} % of the demo's non-face pixels"


def test_at_5_fps_a_face_the_detector_finds_partly_behind_the_bar_is_kept() -> None:
    """The engine taking every other frame (a busy machine): the face moves off its last kept box
    between detections, so a face the detector finds partly behind the bar (0.38-0.73 on frames 460,
    504, 598) is no longer "known"; in the 320x180 frame its box covers 3 %, and looked at again as a
    *large* candidate it scored 0.13-0.62 and was dropped, leaving 1,030-1,171 face pixels uncovered.
    The slivers of a face two widths past its last detection still leak (docs/benchmarks.md, "Held
    tracks round a curve", second round): this test judges only the frames the detector answers."""
    leaked, _ = crossing(600, step=2)
    config = parse_config({"source": DEMO, "engine": {"kind": "cpu-face"}})
    detector = create_engine(config.engine, [Prompt("face", 0.5)], kind="cpu-face", exact=False)
    detector.open()
    judge = Judge(DEMO)
    found_but_shown = []
    for index, shown in leaked:
        image, face = judge.truth(index)
        for x1, y1, x2, y2 in detector.detect(image).boxes.astype(int):
            if face[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)].sum() >= 0.3 * face.sum():
                found_but_shown.append((index, shown))
                break
    detector.close()
    assert len(leaked) < 21, f"judged leaks at 5 fps: {leaked}"
    assert found_but_shown == []
