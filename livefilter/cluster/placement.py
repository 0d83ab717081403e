"""Which worker runs which camera: stable, balanced, within each worker's capacity (pure functions)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

__all__ = ["assign"]


def assign(cameras: Iterable[str], capacity: Mapping[str, int], current: Mapping[str, str]) -> dict[str, str]:
    """Camera → worker, for the live workers in ``capacity`` (worker → most cameras it runs).

    Stable: a camera in ``current`` stays on its worker while that worker is live (SAM3's
    streaming memory lives in that process; moving a camera costs a fully redacted restart).
    The others go, in name order, to the live worker with the most free places (ties: the
    worker's name), so equal workers fill evenly. Cameras that fit nowhere are left out
    (the caller reports them; they are placed when a worker comes back).

    Example:
        >>> assign(["a", "b", "c"], {"w0": 2, "w1": 2}, {"c": "w1"})
        {'c': 'w1', 'a': 'w0', 'b': 'w0'}
        >>> assign(["a", "b", "c"], {"w0": 2}, {"c": "w1"})
        {'a': 'w0', 'b': 'w0'}
    """
    wanted = list(cameras)
    placed = {camera: worker for camera, worker in current.items() if camera in wanted and worker in capacity}
    load = Counter(placed.values())
    for camera in sorted(set(wanted) - set(placed)):
        free = [(capacity[worker] - load[worker], worker) for worker in capacity if load[worker] < capacity[worker]]
        if not free:
            continue
        worker = min(free, key=lambda item: (-item[0], item[1]))[1]
        placed[camera] = worker
        load[worker] += 1
    return placed
