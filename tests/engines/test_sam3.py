"""The SAM3 engine, offline, with tiny randomly initialised SAM3 video models.

Random weights prove plumbing, memory bounds and object hygiene — never quality: their
masks are not detections of anything, and no test below reads them as such. Every model
is saved with ``save_pretrained`` and loaded through the same ``from_pretrained`` path
users take (``engine.sam3.model`` = a folder).
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import time

import numpy as np
import pytest

pytest.importorskip("torchvision", reason="SAM3 in transformers needs torchvision (pip install 'livefilter[sam3]')")
pytest.importorskip("transformers", reason="SAM3 needs transformers >= 5")

import torch

from livefilter.config.engine import EngineConfig, Sam3Config
from livefilter.engines import create_engine, resolve_engine_kind
from livefilter.engines.sam3 import CLICK_ID_BASE, Sam3Engine, click_track_id, sam3_unavailable_reason
from livefilter.engines.sam3_memory import session_size
from livefilter.errors import DependencyError, EngineError
from livefilter.types import Frame, MaskSet, Prompt

H, W = 120, 160


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One thread: on a busy 2-core machine, torch's worker threads spin against other
    processes and a tiny model's frame goes from ~0.1 s to several seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    from livefilter.engines.sam3_tiny import save_tiny_sam3

    return str(save_tiny_sam3(tmp_path_factory.mktemp("sam3") / "tiny", image_size=112, seed=0))


@pytest.fixture(scope="module")
def short_memory_model(tmp_path_factory) -> str:
    """A tiny model whose tracker reads only the last 3 frames (memory tests stream fewer frames)."""
    from livefilter.engines.sam3_tiny import save_tiny_sam3

    return str(save_tiny_sam3(tmp_path_factory.mktemp("sam3") / "short", num_maskmem=4, max_object_pointers=4))


def scene(i: int) -> np.ndarray:
    """BGR frame i: a fixed random texture with a bright box moving 3 px per frame."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 120, (H, W, 3), dtype=np.uint8)
    x = 20 + 3 * i
    image[40:90, x:x + 40] = (40, 200, 250)
    return image


def frame(i: int) -> Frame:
    return Frame(scene(i), i, t_capture=i / 30.0)


def engine(model: str, prompts=(("face", 0.2),), **settings) -> Sam3Engine:
    """An open engine; at most 2 objects per prompt unless asked (keeps the tests quick)."""
    settings.setdefault("max_objects_per_prompt", 2)
    e = Sam3Engine(Sam3Config(model=model, **settings), [Prompt(t, th) for t, th in prompts])
    e.open()
    return e


def run(e: Sam3Engine, frames: range) -> list[MaskSet]:
    return [e.infer(frame(i)) for i in frames]


def check_maskset(masks: MaskSet, i: int) -> None:
    assert masks.frame_index == i and masks.t_capture == i / 30.0
    assert masks.masks.shape == (len(masks), H, W) and masks.masks.dtype == np.bool_
    assert len(set(masks.object_ids.tolist())) == len(masks), "object ids are unique within a frame"
    assert all(m.any() for m in masks.masks), "no empty masks are reported"


# --------------------------------------------------------------------------- loading


def test_loads_tiny_random_model_through_from_pretrained(tiny_model, caplog):
    from livefilter.engines.sam3_model import StreamingSam3VideoModel

    caplog.set_level(logging.WARNING, logger="livefilter.engines.sam3")
    e = engine(tiny_model)
    try:
        assert isinstance(e._stream.model, StreamingSam3VideoModel)
        assert e._stream.processor.target_size == 112
        assert e._stream.device.type == "cpu" and e._stream.dtype == torch.float32
        check_maskset(e.infer(frame(0)), 0)
    finally:
        e.close()
    cost = [r.getMessage() for r in caplog.records if "runs on the CPU" in r.getMessage()]
    assert cost and "s per frame" in cost[0], "engine: sam3 on a CPU says what it will cost"


def test_processing_resolution_changes_model_input_but_not_mask_size_random_weights(tiny_model):
    e = engine(tiny_model, resolution=140)
    try:
        assert e._stream.processor.target_size == 140
        assert e._stream.model.low_res_mask_size == 4 * 140 // 14
        for i in range(3):
            check_maskset(e.infer(frame(i)), i)
    finally:
        e.close()


@pytest.fixture
def before_torch(monkeypatch):
    """Fail the test if the engine imports torch, transformers or its model code (seconds
    to import; they are imported already in this process, so the import itself is watched)."""
    import builtins

    real_import = builtins.__import__
    heavy = ("torch", "torchvision", "transformers", "livefilter.engines.sam3_model")

    def watched(name, globals=None, locals=None, fromlist=(), level=0):
        if name.split(".")[0] in heavy or name in heavy:
            raise AssertionError(f"open() imported {name} before finding out the weights cannot be had")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", watched)


def test_missing_local_folder_is_one_clear_error_before_torch(tmp_path, before_torch):
    missing = tmp_path / "no-such-sam3"
    e = Sam3Engine(Sam3Config(model=str(missing)), [Prompt("face")])
    with pytest.raises(EngineError, match=r"no model folder at .*no-such-sam3"):
        e.open()


def test_a_folder_without_a_sam3_model_is_one_clear_error_before_torch(tmp_path, before_torch):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "notes.txt").write_text("")
    with pytest.raises(EngineError, match=r"holds no model \(expected config.json and model.safetensors, found notes.txt"):
        Sam3Engine(Sam3Config(model=str(folder)), [Prompt("face")]).open()
    (folder / "config.json").write_text('{"model_type": "sam2_video"}')
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(EngineError, match=r"holds a 'sam2_video' model; expected a SAM3 video checkpoint"):
        Sam3Engine(Sam3Config(model=str(folder)), [Prompt("face")]).open()


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """An empty Hugging Face cache, online, with the hub at an address that refuses at once
    (127.0.0.1:9). Returns the cache folder."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    return tmp_path / "hub"


@pytest.fixture
def offline_hub(hub, monkeypatch):
    """The empty cache of ``hub``, with HF_HUB_OFFLINE=1 (as the library sees it)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return hub


def test_unknown_hub_id_offline_says_offline_and_how_to_fix_before_torch(offline_hub, before_torch):
    e = Sam3Engine(Sam3Config(model="nobody/no-such-sam3"), [Prompt("face")])
    with pytest.raises(EngineError) as caught:
        e.open()
    message = str(caught.value)
    assert "not in the local Hugging Face cache" in message and "HF_HUB_OFFLINE" in message
    assert "hf download nobody/no-such-sam3" in message


def test_unreachable_hub_is_one_message_after_one_request_before_torch(hub, before_torch, caplog):
    caplog.set_level(logging.DEBUG)
    e = Sam3Engine(Sam3Config(), [Prompt("face")])
    with pytest.raises(EngineError) as caught:
        e.open()
    message = str(caught.value)
    assert "facebook/sam3 are not in the local Hugging Face cache" in message
    assert "the hub could not be reached (http://127.0.0.1:9: ConnectError" in message
    assert "one try, 5 s timeout)" in message
    assert "hf download facebook/sam3" in message and "local folder" in message
    assert not [r for r in caplog.records if "etry" in r.getMessage()], "no retries"


def cache_snapshot(cache, repo_id: str, folder: str) -> None:
    """Put the files of ``folder`` into the Hugging Face cache layout as ``repo_id``'s main revision."""
    import shutil

    root = cache / f"models--{repo_id.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text("0" * 40)
    shutil.copytree(folder, root / "snapshots" / ("0" * 40))


@pytest.mark.parametrize("offline", [False, True], ids=["hub-unreachable", "HF_HUB_OFFLINE"])
def test_cached_weights_load_without_the_hub(tiny_model, hub, monkeypatch, caplog, offline):
    from huggingface_hub import constants

    cache_snapshot(hub, "nobody/tiny-sam3", tiny_model)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    caplog.set_level(logging.INFO, logger="livefilter.engines.sam3_loading")
    e = Sam3Engine(Sam3Config(model="nobody/tiny-sam3", max_objects_per_prompt=2), [Prompt("face", 0.2)])
    e.open()
    try:
        check_maskset(e.infer(frame(0)), 0)
    finally:
        e.close()
    unreachable = [r for r in caplog.records if "loading nobody/tiny-sam3 from the local cache" in r.getMessage()]
    assert len(unreachable) == (0 if offline else 1)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("GatedRepoError", ["gated", "https://huggingface.co/facebook/sam3", "hf auth login", "HF_TOKEN"]),
        ("RepositoryNotFoundError", ["no repository facebook/sam3 on the Hugging Face hub", "local folder"]),
    ],
)
def test_hub_refusals_say_which_and_what_to_do(hub, monkeypatch, error, expected):
    import httpx2
    import transformers.utils.hub as transformers_hub
    from huggingface_hub import errors

    def refuse(repo_id, *args, **kwargs):
        response = httpx2.Response(403, request=httpx2.Request("GET", f"https://huggingface.co/{repo_id}"))
        raise getattr(errors, error)(f"{error} for {repo_id}.", response=response)

    monkeypatch.setattr("livefilter.engines.sam3_loading._hub_unreachable", lambda timeout_s: None)  # it answers
    monkeypatch.setattr(transformers_hub, "hf_hub_download", refuse)
    monkeypatch.setattr(transformers_hub, "snapshot_download", refuse)
    e = Sam3Engine(Sam3Config(), [Prompt("face")])
    with pytest.raises(EngineError) as caught:
        e.open()
    for part in expected:
        assert part in str(caught.value)


def test_missing_torchvision_is_a_dependency_error_with_the_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchvision" else real(name, *a))
    with pytest.raises(DependencyError, match=r"torchvision is not installed \(pip install 'livefilter\[sam3\]'"):
        Sam3Engine(Sam3Config(), [Prompt("face")]).open()


def test_auto_picks_sam3_only_with_local_weights_and_a_gpu(tiny_model, offline_hub, tmp_path):
    assert "no model folder" in sam3_unavailable_reason(Sam3Config(model=str(tmp_path / "nope")))
    assert "not in the local Hugging Face cache" in sam3_unavailable_reason(Sam3Config())
    assert "device is cpu" in sam3_unavailable_reason(Sam3Config(model=tiny_model, device="cpu"))
    reason = sam3_unavailable_reason(Sam3Config(model=tiny_model))
    if torch.cuda.is_available():
        assert reason is None
        assert resolve_engine_kind(EngineConfig(sam3=Sam3Config(model=tiny_model))) == "sam3"
    else:
        assert "no CUDA GPU" in reason
        assert resolve_engine_kind(EngineConfig(sam3=Sam3Config(model=tiny_model))) == "cpu-face"


def test_registry_builds_the_engine(tiny_model):
    built = create_engine(EngineConfig(kind="sam3", sam3=Sam3Config(model=tiny_model)), [Prompt("face")])
    assert isinstance(built, Sam3Engine) and built.name == "sam3"


# --------------------------------------------------------------------------- streaming


def test_streams_several_prompts_each_with_its_own_threshold_random_weights(tiny_model):
    e = engine(tiny_model, prompts=(("face", 0.2), ("license plate", 0.2), ("document", 0.999)))
    try:
        results = run(e, range(8))
    finally:
        e.close()
    for i, masks in enumerate(results):
        check_maskset(masks, i)
        for label, score in zip(masks.labels, masks.scores):
            assert label in ("face", "license plate")
            assert score > 0.2
    labels = {label for masks in results for label in masks.labels}
    assert labels == {"face", "license plate"}, "both low-threshold prompts produce objects; 0.999 none"
    ids = [set(m.object_ids.tolist()) for m in results]
    assert any(a & b for a, b in itertools.pairwise(ids)), "tracks keep their id from frame to frame"


def test_velocities_come_from_box_centres_across_frames(tiny_model):
    e = engine(tiny_model)
    try:
        results = run(e, range(6))
    finally:
        e.close()
    checked = 0
    for before, after in itertools.pairwise(results):
        for j, track in enumerate(after.object_ids.tolist()):
            if track not in before.object_ids.tolist():
                assert after.velocities[j].tolist() == [0.0, 0.0]
                continue
            k = before.object_ids.tolist().index(track)
            centre = []
            for m in (before.masks[k], after.masks[j]):
                rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
                centre.append(np.array([(cols[0] + cols[-1]) / 2, (rows[0] + rows[-1]) / 2]))
            expected = (centre[1] - centre[0]) / (after.t_capture - before.t_capture)
            np.testing.assert_allclose(after.velocities[j], expected, rtol=1e-5)
            checked += 1
    assert checked > 0


def test_prompt_change_mid_stream_random_weights(tiny_model):
    e = engine(tiny_model, prompts=(("face", 0.2),))
    try:
        first = run(e, range(4))
        face_ids = set(first[-1].object_ids.tolist())
        assert face_ids and set(first[-1].labels) == {"face"}
        e.set_prompts([Prompt("face", 0.2), Prompt("license plate", 0.2)])  # adding keeps the tracks
        added = run(e, range(4, 8))
        assert face_ids & set(added[0].object_ids.tolist()), "adding a prompt does not restart the tracks"
        assert "license plate" in {label for m in added for label in m.labels}
        seen = {t for m in first + added for t in m.object_ids.tolist()}
        e.set_prompts([Prompt("license plate", 0.2)])  # removing restarts the session
        removed = run(e, range(8, 12))
    finally:
        e.close()
    assert all(set(m.labels) <= {"license plate"} for m in removed)
    assert not seen & {t for m in removed for t in m.object_ids.tolist()}, "ids are never reused"
    for i, masks in zip(range(12), first + added + removed):
        check_maskset(masks, i)


def test_detect_every_nth_frame_runs_the_detector_on_those_only(tiny_model, monkeypatch):
    e = engine(tiny_model, prompts=(("face", 0.2), ("license plate", 0.2)), detect_every=3)
    detector = e._stream.model.detector_model
    calls = []
    real = detector.forward
    monkeypatch.setattr(detector, "forward", lambda *a, **k: calls.append(e._stream.frame_idx) or real(*a, **k))
    try:
        results = run(e, range(7))
    finally:
        e.close()
    assert calls == [0, 0, 3, 3, 6, 6], "DETR runs per prompt on frames 0, 3, 6 only"
    assert any(len(m) for m in results[1:3]), "the tracker carries objects between detections"


def spy_detector(e: Sam3Engine, monkeypatch) -> list[int]:
    """The stream frame index of every DETR call (one per prompt on a detection frame)."""
    detector = e._stream.model.detector_model
    calls: list[int] = []
    real = detector.forward
    monkeypatch.setattr(detector, "forward", lambda *a, **k: calls.append(e._stream.frame_idx) or real(*a, **k))
    return calls


def test_first_frame_after_a_prompt_change_runs_the_detector_random_weights(tiny_model, monkeypatch):
    """Issue 14.1: with detect_every=3, a prompt change on frame 4 must not leave frames 4 and 5
    tracker-only: a restarted session has nothing to track, an added prompt nothing yet."""
    e = engine(tiny_model, prompts=(("face", 0.2), ("license plate", 0.2)), detect_every=3)
    calls = spy_detector(e, monkeypatch)
    try:
        run(e, range(4))
        e.set_prompts([Prompt("face", 0.2)])  # a prompt removed: the text session restarts
        restarted = run(e, range(4, 8))
        e.set_prompts([Prompt("face", 0.2), Prompt("license plate", 0.2)])  # added: tracks kept
        added = run(e, range(8, 10))
        e.set_prompts([Prompt("face", 0.25), Prompt("license plate", 0.2)])  # a threshold changed
        run(e, range(10, 11))
        e.reset()  # the stream numbers its frames from 0 again
        run(e, range(11, 12))
    finally:
        e.close()
    assert len(restarted[0]) > 0 and set(restarted[0].labels) == {"face"}, "objects on the frame after the change"
    assert "license plate" in added[0].labels, "the added prompt is searched on its first frame"
    assert calls == [0, 0, 3, 3, 4, 7, 8, 8, 10, 10, 0, 0], "each change detects at once, then every 3rd frame"


def test_a_text_session_restarted_mid_stream_keeps_the_trackers_object_pointers_random_weights(tiny_model, monkeypatch):
    """Issue 14.2: a session started at stream frame 20 must read as many past object pointers
    as a fresh engine that saw the same frames (transformers stops at its frame count)."""

    def pointer_counts(prompts, frames: range, restart_at: int | None = None) -> dict[int, list[int]]:
        e = engine(tiny_model, prompts=prompts)
        tracker = e._stream.model.tracker_model
        counts: dict[int, list[int]] = {}
        real = tracker._get_object_pointers

        def spy(session, obj_idx, frame_idx, *args, **kwargs):
            offsets, tokens, most = real(session, obj_idx, frame_idx, *args, **kwargs)
            counts.setdefault(frame_idx, []).append(len(tokens))
            return offsets, tokens, most

        monkeypatch.setattr(tracker, "_get_object_pointers", spy)
        try:
            for i in frames:
                if i == restart_at:
                    e.set_prompts([Prompt("face", 0.2)])
                e.infer(frame(i))
        finally:
            e.close()
        return counts

    restarted = pointer_counts((("face", 0.2), ("license plate", 0.2)), range(40), restart_at=20)
    fresh = pointer_counts((("face", 0.2),), range(20, 40))
    for i in range(20, 40):
        assert sorted(restarted.get(i, [])) == sorted(fresh.get(i - 20, [])), f"frame {i}: pointers read"
    assert max(n for i in range(20, 40) for n in restarted.get(i, [])) >= 10, "long tracks read many pointers"


# --------------------------------------------------------------------------- clicks


def test_click_and_box_track_two_objects_random_weights(tiny_model):
    e = engine(tiny_model, prompts=())
    try:
        assert len(e.infer(frame(0))) == 0, "no prompts and no clicks: nothing to look for"
        e.add_points(None, [(40, 60)], [1], object_id=1)
        e.add_box(None, (90, 30, 150, 100), object_id=2)
        tracked = run(e, range(1, 6))
        e.remove_object(1)
        after = run(e, range(6, 8))
    finally:
        e.close()
    for i, masks in zip(range(1, 8), tracked + after):
        check_maskset(masks, i)
        assert set(masks.labels) <= {"click"}
    ids = [set(m.object_ids.tolist()) for m in tracked]
    assert ids[0] == {click_track_id(1), click_track_id(2)}
    assert all(s <= {CLICK_ID_BASE + 1, CLICK_ID_BASE + 2} for s in ids)
    assert all(click_track_id(1) not in m.object_ids.tolist() for m in after)


def test_clicks_and_text_prompts_share_a_frame_random_weights(tiny_model):
    e = engine(tiny_model)
    try:
        e.add_click(40, 60, object_id=5, frame_index=2)
        results = run(e, range(4))
    finally:
        e.close()
    assert all(click_track_id(5) not in m.object_ids.tolist() for m in results[:2]), "due at frame 2"
    assert "click" in results[2].labels and "face" in {label for m in results for label in m.labels}


def test_a_correction_click_refines_the_tracked_object_instead_of_restarting_it_random_weights(tiny_model, monkeypatch):
    """Issue 14.3: a click on an object already tracked runs with its memory
    (is_init_cond_frame False), not as a new object seeded by the new points alone."""
    e = engine(tiny_model, prompts=())
    tracker = e._stream.model.tracker_model
    calls: list[tuple[int, bool, list[int] | None]] = []
    real = tracker._run_single_frame_inference

    def spy(**kwargs):
        points = kwargs["point_inputs"]
        labels = None if points is None else points["point_labels"].reshape(-1).tolist()
        calls.append((kwargs["frame_idx"], kwargs["is_init_cond_frame"], labels))
        return real(**kwargs)

    monkeypatch.setattr(tracker, "_run_single_frame_inference", spy)
    try:
        e.add_points(None, [(40, 60)], [1], object_id=1)
        run(e, range(4))
        e.add_click(70, 60, object_id=1, positive=False)  # "not this part"
        e.add_points(None, [(120, 40)], [1], object_id=2)  # and a new object on the same frame
        refined = e.infer(frame(4))
        later = run(e, range(5, 7))
        session = e._stream.click_session
        outputs = session.output_dict_per_obj[session.obj_id_to_idx(1)]
        assert 4 in outputs["cond_frame_outputs"] and 4 not in outputs["non_cond_frame_outputs"], (
            "a corrected frame is kept as a conditioning frame"
        )
    finally:
        e.close()
    with_points = [(f, init, labels) for f, init, labels in calls if labels is not None]
    assert with_points[0] == (0, True, [1]), "the first click seeds object 1"
    assert (4, False, [0]) in with_points, "the correction runs from object 1's memory, with its new point"
    assert (4, True, [1]) in with_points, "a new object clicked on the same frame is seeded there"
    assert not [c for c in with_points if c[0] == 4 and c[1] and c[2] == [0]], "never re-seeded by the lone negative click"
    for i, masks in zip(range(4, 7), [refined, *later]):
        check_maskset(masks, i)


def test_click_arguments_are_checked():
    e = Sam3Engine(Sam3Config(), [Prompt("face")])
    with pytest.raises(ValueError, match="one label per point"):
        e.add_points(None, [(1, 2), (3, 4)], [1], object_id=1)
    with pytest.raises(ValueError, match="labels must be 1"):
        e.add_points(None, [(1, 2)], [2], object_id=1)
    with pytest.raises(ValueError, match="x0 < x1"):
        e.add_box(None, (10, 10, 5, 20), object_id=1)
    with pytest.raises(TypeError, match="object_id"):
        e.add_click(1, 2, object_id="a")
    with pytest.raises(EngineError, match="before open"):
        e.infer(frame(0))


# --------------------------------------------------------------------------- memory


def assert_window_changes_nothing(model: str, window: int, frames: range, monkeypatch) -> None:
    """Stream with the memory window, then without trimming: every MaskSet must be equal."""
    from livefilter.engines.sam3_model import Sam3Stream

    prompts = (("face", 0.15), ("license plate", 0.15))

    def stream() -> tuple[list[MaskSet], list[torch.Tensor], dict, dict]:
        e = engine(model, prompts=prompts, memory_frames=window)
        e.add_points(None, [(40, 60)], [1], object_id=1)
        logits: list[torch.Tensor] = []  # every tracker call's raw mask logits, text and click sessions
        e._stream.model.tracker_model.register_forward_hook(lambda m, a, out: logits.append(out.pred_masks.clone()))
        try:
            out = run(e, frames)
            return out, logits, session_size(e._stream.text_session), session_size(e._stream.click_session)
        finally:
            e.close()

    windowed, logits_w, text_w, click_w = stream()
    with monkeypatch.context() as patch:
        patch.setattr(Sam3Stream, "_trim", lambda self, idx: None)
        unbounded, logits_u, text_u, click_u = stream()

    assert len(logits_w) == len(logits_u) > 2 * len(frames)
    for a, b in zip(logits_w, logits_u):
        torch.testing.assert_close(a, b, rtol=0, atol=0)

    later = windowed[window:]
    assert sum(any(label != "click" for label in m.labels) for m in later) >= len(later) // 2, "text objects"
    assert any("click" in m.labels for m in later), "the click object outlives the window"
    for a, b in zip(windowed, unbounded):
        assert a.labels == b.labels
        np.testing.assert_array_equal(a.object_ids, b.object_ids)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.masks, b.masks)
    n = len(frames)
    assert text_u["frames"] == n and text_u["tracker_scores"] == n and click_u["frames"] == n
    assert text_w["frames"] == 1 and text_w["tracker_scores"] <= window and click_w["frames"] == 1
    assert click_w["non_cond_outputs"] <= window < click_u["non_cond_outputs"]


def test_memory_window_gives_the_same_outputs_as_unbounded_memory_random_weights(short_memory_model, monkeypatch):
    """``memory_frames`` >= the frames the tracker reads (3 for this model): trimming changes nothing."""
    assert_window_changes_nothing(short_memory_model, 4, range(16), monkeypatch)


@pytest.mark.slow
def test_default_memory_window_gives_the_same_outputs_as_unbounded_memory_random_weights(tiny_model, monkeypatch):
    """The default window (16) with facebook/sam3's attention span (15 frames)."""
    assert_window_changes_nothing(tiny_model, Sam3Config().memory_frames, range(40), monkeypatch)


def test_memory_stays_bounded_with_a_small_window_random_weights(tiny_model):
    e = engine(tiny_model, prompts=(("face", 0.2), ("license plate", 0.2)), memory_frames=4)
    e.add_box(None, (90, 30, 150, 100), object_id=2)
    try:
        for i in range(20):
            e.infer(frame(i))
            text, clicks = session_size(e._stream.text_session), session_size(e._stream.click_session)
            objects = len(e._stream.text_session.obj_ids)
            assert text["frames"] <= 1 and clicks["frames"] <= 1
            assert text["non_cond_outputs"] <= 4 * objects and text["frames_tracked"] <= 4 * objects
            assert text["cond_outputs"] <= (4 + 4) * objects
            assert text["tracker_scores"] <= 4 and text["suppressed"] <= 4
            assert text["per_object"] <= 4 * objects and text["unmatched"] <= 4 * objects
            assert clicks["non_cond_outputs"] <= 4 and clicks["cond_outputs"] <= 4
    finally:
        e.close()


# --------------------------------------------------------------------------- object hygiene


def test_objects_per_prompt_are_capped_random_weights(tiny_model):
    e = engine(tiny_model, prompts=(("face", 0.0), ("license plate", 0.0)), max_objects_per_prompt=3)
    try:
        for i in range(10):
            masks = e.infer(frame(i))
            session = e._stream.text_session
            per_prompt = [list(session.obj_id_to_prompt_id.values()).count(p) for p in session.prompts]
            assert max(per_prompt) <= 3, per_prompt
            assert max(masks.labels.count(label) for label in set(masks.labels)) <= 3
    finally:
        e.close()


def test_unconfirmed_tracks_are_removed_random_weights(tiny_model):
    e = engine(tiny_model, prompts=(("face", 0.2),), unconfirmed_drop_frames=3)
    try:
        assert any(len(m) for m in run(e, range(4)))
        e.set_prompts([Prompt("face", 0.999)])  # same prompt, nothing passes: nothing confirms the tracks
        after = run(e, range(4, 9))
    finally:
        e.close()
    assert len(after[-1]) == 0 and len(after[-2]) == 0, "tracks unconfirmed for 3 frames are gone"


class OracleSam3(Sam3Engine):
    """The tiny SAM3 with the *outputs* of its detector and tracker heads replaced by the true
    masks of a :class:`tests.fakes.Scene`'s secrets (``square``, ``stripe``), because random
    weights detect nothing. Everything between those heads is the real code: the engine, the
    streaming sessions, the detect-every-Nth cadence, prompt changes, transformers'
    association and planning, our thresholds and hygiene — and around it, the pipeline.

    A prompt whose text names a secret is "detected" on its true box with ``score(index)``;
    a tracked object of that prompt is "tracked" to the box on the current frame.
    """

    def __init__(self, settings: Sam3Config, prompts, scene, *, score=lambda index: 0.9, on_frame=None) -> None:
        super().__init__(settings, prompts)
        self.scene, self.score, self.on_frame = scene, score, on_frame
        self.index = 0

    def open(self) -> None:
        super().open()
        model = self._stream.model
        model.detector_model.register_forward_hook(self._detect, with_kwargs=True)
        model.tracker_model.register_forward_hook(self._track, with_kwargs=True)

    def infer(self, frame: Frame) -> MaskSet:
        self.index = frame.index
        if self.on_frame is not None:
            self.on_frame(frame.index)
        return super().infer(frame)

    def _truth(self, text: str, size: int) -> torch.Tensor:
        """Mask logits on the model's low-res grid (the frame squashed to a square): +10 on
        every cell the secret's box touches, and one cell around it; -10 elsewhere."""
        logits = torch.full((size, size), -10.0)
        box = self.scene.box(text, self.index)
        if box is not None:
            x0, y0, x1, y1 = box
            sx, sy = size / self.scene.width, size / self.scene.height
            logits[max(int(y0 * sy) - 1, 0):int(np.ceil(y1 * sy)) + 1,
                   max(int(x0 * sx) - 1, 0):int(np.ceil(x1 * sx)) + 1] = 10.0
        return logits

    def _detect(self, module, args, kwargs, out):
        session = self._stream.text_session
        prompt_id = next(p for p, embeds in session.prompt_embeddings.items() if embeds is kwargs["text_embeds"])
        text = session.prompts[prompt_id]
        out.pred_logits.fill_(-20.0)
        out.presence_logits.fill_(20.0)
        if self.scene.box(text, self.index) is not None:
            score = self.score(self.index)
            out.pred_logits[0, 0] = float(np.log(score / (1 - score)))
            out.pred_masks[0, 0] = self._truth(text, out.pred_masks.shape[-1])

    def _track(self, module, args, kwargs, out):
        session = kwargs["inference_session"]
        if session is not self._stream.text_session:
            return
        masks = out.pred_masks.view(len(out.object_ids), -1, *out.pred_masks.shape[-2:])
        for i, obj in enumerate(out.object_ids):
            masks[i, :] = self._truth(session.prompts[session.obj_id_to_prompt_id[obj]], masks.shape[-1])
        out.object_score_logits.fill_(20.0)


def oracle(model: str, prompts, score=lambda index: 0.9, **settings) -> OracleSam3:
    from tests.fakes import Scene

    e = OracleSam3(Sam3Config(model=model, **settings), [Prompt(t, th) for t, th in prompts], Scene(), score=score)
    e.open()
    return e


def run_scene(e: OracleSam3, frames: range) -> list[MaskSet]:
    return [e.infer(e.scene.frame(i, t_capture=i / 30.0)) for i in frames]


def test_the_oracle_heads_cover_the_secrets_so_tests_can_count_leaks(tiny_model):
    from tests.fakes import STRIPE_COLORS, leaked_pixels

    e = oracle(tiny_model, (("square", 0.5),))
    try:
        results = run_scene(e, range(3))
    finally:
        e.close()
    for i, masks in enumerate(results):
        image = e.scene.image(i)
        covered = image * ~masks.union()[..., None]
        assert len(masks) == 1 and leaked_pixels(covered) == leaked_pixels(image, STRIPE_COLORS) > 0


def test_a_score_below_the_start_threshold_confirms_a_track_but_never_starts_one_random_weights(tiny_model):
    """Issue 14.4: starting a track takes the prompt's threshold (0.5 here); keeping one
    alive takes engine.sam3.confirm_threshold (0.3 here)."""
    e = oracle(tiny_model, (("square", 0.5),), score=lambda i: 0.8 if i < 2 else 0.4,
               confirm_threshold=0.3, unconfirmed_drop_frames=3)
    try:
        started = run_scene(e, range(2))
        kept = run_scene(e, range(2, 10))
    finally:
        e.close()
    ids = set(started[-1].object_ids.tolist())
    assert len(ids) == 1 and all(set(m.object_ids.tolist()) == ids for m in kept), (
        "a track seen at 0.4 stays (confirmed for 8 frames, unconfirmed_drop_frames=3)"
    )

    never = oracle(tiny_model, (("square", 0.5),), score=lambda i: 0.4, confirm_threshold=0.3)
    try:
        results = run_scene(never, range(3))
        detections = never._stream.text_session.frame_detections
    finally:
        never.close()
    assert len(detections[0]) == 1 and not any(len(m) for m in results), "a score of 0.4 starts nothing"


def test_raising_a_prompt_threshold_stops_new_tracks_but_keeps_those_the_detector_still_sees(tiny_model):
    e = oracle(tiny_model, (("square", 0.5), ("stripe", 0.5)), score=lambda i: 0.6, unconfirmed_drop_frames=3)
    try:
        before = run_scene(e, range(2))
        e.set_prompts([Prompt("square", 0.9), Prompt("stripe", 0.5)])  # the default confirm_threshold is 0.3
        after = run_scene(e, range(2, 10))
        e.reset()  # forget the square: at 0.6 it is not found again
        fresh = run_scene(e, range(10, 12))
    finally:
        e.close()
    assert before[-1].labels == after[-1].labels == ("square", "stripe")
    assert set(before[-1].object_ids.tolist()) == set(after[-1].object_ids.tolist())
    assert all(m.labels == ("stripe",) for m in fresh)


def test_prompt_changes_under_detect_every_leak_nothing_through_the_pipeline_random_weights(tiny_model):
    """Issue 14.1, whole pipeline, exact mode, detect_every=3: "stripe" is added during frame 3
    (first answered on frame 4) and "square" removed during frame 9 (the text session restarts
    on frame 10). Neither 4 nor 10 is a detection frame by the cadence; no sink frame may show
    a secret of the prompts it answers."""
    from livefilter.config import EngineConfig, RenderConfig, RuntimeConfig
    from livefilter.pipeline import Pipeline
    from tests.fakes import SQUARE_COLORS, STRIPE_COLORS, FakeSource, RecordingSink, Scene, leaked_pixels

    scene, sink = Scene(), RecordingSink()
    changes = {3: [Prompt("square"), Prompt("stripe")], 9: [Prompt("stripe")]}

    def on_frame(index: int) -> None:
        if index in changes:
            deadline = time.monotonic() + 60.0  # on a loaded machine the render may lag: let it publish
            while len(sink.frames) < index and time.monotonic() < deadline:  # the frames before first
                time.sleep(0.01)
            pipeline.set_prompts(changes[index])  # while the engine works on this frame

    settings = Sam3Config(model=tiny_model, detect_every=3, max_objects_per_prompt=2)
    pipeline = Pipeline(
        source=FakeSource(scene, count=14),
        engine_factory=lambda: OracleSam3(settings, [Prompt("square")], scene, on_frame=on_frame),
        sinks=[sink],
        # backfill_s 0: the prompt change waits for frames 0-2 to be published, which the
        # delay line would hold to the end (its own prompt-change test: tests/runtime/test_backfill.py)
        render=RenderConfig(mode="exact", fps=30.0, backfill_s=0.0),
        engine=EngineConfig(kind="sam3", sam3=settings, timeout_s=120.0, startup_timeout_s=300.0),
        runtime=RuntimeConfig(stats_interval_s=3600.0),
    )
    pipeline.run()

    frames = {f.index: f for f in sink.frames}
    assert sorted(frames) == list(range(14))
    secrets = {i: SQUARE_COLORS for i in range(3)}
    secrets.update({i: SQUARE_COLORS + STRIPE_COLORS for i in range(4, 9)})
    secrets.update({i: STRIPE_COLORS for i in range(10, 14)})
    leaks = {i: n for i, colors in secrets.items() if (n := leaked_pixels(frames[i].image, colors))}
    assert not leaks, f"secret pixels visible in frames {leaks} (index: pixel count)"
    assert frames[3].reason == frames[9].reason == "prompts_changed", "answers to the old prompts are not shown"
    answered = [i for i in secrets if not frames[i].fully_redacted]
    assert answered == sorted(secrets), "every other frame is answered with masks, none is failed closed"
    assert leaked_pixels(frames[0].image, STRIPE_COLORS) > 0, "not a secret yet: shown (the oracle is not blanket)"


def test_detections_do_not_depend_on_hub_kernels():
    from transformers.models.sam3_video import modeling_sam3_video

    from livefilter.engines import sam3_model

    assert modeling_sam3_video.mask_iou is sam3_model.mask_iou
    assert modeling_sam3_video.cv_utils_kernel is None, "the hub kernel loader was never reached"


def test_linear_memory_mask_iou_equals_the_pairwise_definition():
    from livefilter.engines.sam3_model import mask_iou

    rng = np.random.default_rng(1)
    a = torch.from_numpy(rng.random((5, 30, 30)) > 0.6)
    b = torch.from_numpy(rng.random((4, 30, 30)) > 0.3)
    pairwise = (a[:, None] & b[None]).sum((2, 3)).float() / (a[:, None] | b[None]).sum((2, 3)).float().clamp(min=1)
    torch.testing.assert_close(mask_iou(a, b), pairwise, rtol=0, atol=0)


def test_mask_nms_keeps_the_best_of_overlapping_detections():
    from livefilter.engines.sam3_model import nms_masks

    logits = -torch.ones(4, 20, 20)
    logits[0, :10, :10] = logits[1, :10, :9] = 1  # 1 duplicates 0 (IoU 0.9)
    logits[2, 10:, 10:] = logits[3, 12:, 12:] = 1  # 3 is mostly inside 2 (IoU 0.64)
    scores = torch.tensor([0.6, 0.9, 0.5, 0.7])
    assert nms_masks(scores, logits, 0.5, limit=10).tolist() == [1, 3]
    assert nms_masks(scores, logits, 0.95, limit=10).tolist() == [1, 3, 0, 2]
    assert nms_masks(scores, logits, 0.5, limit=1).tolist() == [1]


# --------------------------------------------------------------------------- end to end


def test_cli_video_with_a_tiny_saved_sam3_model_random_weights(tiny_model, tmp_path, capsys):
    """``livefilter video IN OUT --engine sam3 --model DIR --prompt face``: every frame comes out."""
    import av

    from livefilter.cli import main
    from tests.test_cli import make_video

    clip = make_video(tmp_path / "in.mp4", 12, size=(W, H), picture=scene(0))
    out_path = tmp_path / "out.mp4"
    code = main(["video", str(clip), str(out_path), "--engine", "sam3", "--model", tiny_model,
                 "--prompt", "face", "--style", "solid"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"engine sam3: {tiny_model} on cpu" in err
    with av.open(str(out_path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12


def test_bfloat16_as_on_a_gpu_runs_random_weights(tiny_model):
    e = engine(tiny_model, prompts=(("face", 0.2), ("license plate", 0.2)), dtype="bfloat16")
    e.add_points(None, [(40, 60)], [1], object_id=1)
    try:
        assert e._stream.dtype == torch.bfloat16
        assert next(e._stream.model.parameters()).dtype == torch.bfloat16
        for i in range(4):
            check_maskset(e.infer(frame(i)), i)
    finally:
        e.close()


def test_reset_forgets_tracks_and_clicks_but_keeps_prompts_random_weights(tiny_model):
    e = engine(tiny_model)
    try:
        e.add_click(40, 60, object_id=1)
        before = run(e, range(3))
        e.reset()
        after = run(e, range(3, 6))
        assert e.prompts == (Prompt("face", 0.2),)
    finally:
        e.close()
    assert any("click" in m.labels for m in before) and not any("click" in m.labels for m in after)
    old = {t for m in before for t in m.object_ids.tolist()}
    assert "face" in {label for m in after for label in m.labels}
    assert not old & {t for m in after for t in m.object_ids.tolist()}, "ids are never reused"


def test_cli_run_with_a_sam3_config_random_weights(tiny_model, tmp_path, capsys, monkeypatch):
    """``livefilter run`` with a SAM3 config: the demo source through the engine into a file."""
    import av

    from livefilter.cli import main

    monkeypatch.chdir(tmp_path)
    config = tmp_path / "sam3.yaml"
    config.write_text(
        "source: {kind: demo, width: 160, height: 120, fps: 10, duration_s: 1.5}\n"
        "prompts: [{text: face, threshold: 0.2}, {text: license plate, threshold: 0.2}]\n"
        f"engine: {{kind: sam3, sam3: {{model: '{tiny_model}', max_objects_per_prompt: 2}}, timeout_s: 30}}\n"
        "sinks: [{kind: file, path: out.mp4}]\n"
    )
    code = main(["run", str(config)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "engine sam3" in err
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) > 0
