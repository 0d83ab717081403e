"""``python -m livefilter`` = the ``livefilter`` command."""

from livefilter.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
