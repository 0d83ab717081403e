"""scripts/bench_glass_to_glass.py and scripts/bench_stages.py: the per-stage figures they print."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import bench_glass_to_glass as g2g
import bench_stages


def test_frame_index_survives_drawing_and_reading() -> None:
    image = np.full((40, 640, 3), 90, np.uint8)
    g2g.draw_index(image, 123456)
    assert g2g.read_index(image) == 123456
    image[:16, :512] = 128  # redacted blocks: no index
    assert g2g.read_index(image) is None


def test_breakdown_gives_each_step_in_ms_and_frames() -> None:
    stamps = g2g.Stamps()
    for index in range(10):
        t = float(index)
        for offset, stage in zip([0, 0.01, 0.06, 0.063, 0.065, 0.1, 0.105, 0.1051, 0.155, 0.16], g2g.PATH):
            stamps.mark(stage, index, t + offset)
    stamps.depth["decoder: packets held"].extend([0, 0, 2])
    lines = g2g.breakdown(stamps, set(range(10)), fps=30)
    row = next(line for line in lines if line.startswith("lf captured (BGR) -> lf at sink"))
    assert row.split()[-4:] == ["10", "35.0", "35.0", "1.05"]
    assert any("decoder: packets held: median 0, max 2" in line for line in lines)


@pytest.mark.slow
def test_stage_benchmark_times_every_stage(capsys) -> None:
    assert bench_stages.main(["--size", "320x180", "--frames", "8", "--pipeline-seconds", "0"]) == 0
    out = capsys.readouterr().out
    for stage in bench_stages.STAGES:
        row = next(line for line in out.splitlines() if line.startswith(f"| {stage} |"))
        cells = [cell.strip() for cell in row.strip("|").split("|")[1:]]
        assert len(cells) == 5 and all(float(cell.split(" / ")[0]) >= 0 for cell in cells), row
    assert "cores busy per 30 fps camera" in out
