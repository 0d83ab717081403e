"""``livefilter ui``: loopback by default; anything else is said out loud."""

from __future__ import annotations

import pytest

from livefilter.cli import build_parser
from livefilter.ui.server import exposure_warning


def test_default_binds_to_loopback() -> None:
    args = build_parser().parse_args(["ui"])
    assert args.host == "127.0.0.1" and not args.share
    assert exposure_warning(args.host, args.share) is None


@pytest.mark.parametrize(
    ("host", "share", "said"),
    [("0.0.0.0", False, "anyone who can reach this machine"), ("127.0.0.1", True, "gradio.live"),
     ("cam-box.lan", False, "listening on cam-box.lan")],
)
def test_exposure_is_said(host: str, share: bool, said: str) -> None:
    warning = exposure_warning(host, share)
    assert warning is not None and said in warning
