"""Dynamic batching, the way Triton's dynamic batcher does it: a batch goes when it is full or when its
oldest item has waited `max_delay_s`, whichever comes first.

Pure: the clock is an argument (`now`, seconds on any monotonic scale), so tests and benchmarks drive
time themselves and the detect service passes `time.monotonic()`. Items leave in arrival order, which
keeps each Kafka partition's records in offset order: committing after a batch never skips a record
still waiting here.

    batcher = DynamicBatcher(max_batch=8, max_delay_s=0.010)
    batcher.add(item, now)
    for batch in batcher.ready(now): ...          # zero or more batches due now
    timeout = batcher.wait_s(now)                  # how long the caller may block before the next is due
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["DynamicBatcher"]

T = TypeVar("T")


@dataclass
class DynamicBatcher(Generic[T]):
    """A FIFO queue that hands out batches of up to `max_batch` items, none held longer than `max_delay_s`.

    `max_delay_s=0` hands out whatever is queued at once (no waiting for company), in batches of at most
    `max_batch`.
    """

    max_batch: int
    max_delay_s: float
    _queue: deque[tuple[float, T]] = field(default_factory=deque, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")
        if self.max_delay_s < 0:
            raise ValueError(f"max_delay_s must not be negative, got {self.max_delay_s}")

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, item: T, now: float) -> None:
        """Queue `item`, arrived at `now`."""
        self._queue.append((now, item))

    def room(self) -> int:
        """Items that still fit into the next batch: what is worth polling for (0 when a full one waits)."""
        return max(0, self.max_batch - len(self._queue))

    def due(self, now: float) -> bool:
        """Whether a batch is due: a full one is queued, or the oldest item's delay is up."""
        return len(self._queue) >= self.max_batch or (bool(self._queue) and now - self._queue[0][0] >= self.max_delay_s)

    def take(self, now: float) -> list[T]:
        """The next due batch (oldest first), or [] when none is due yet."""
        if not self.due(now):
            return []
        return self._pop(self.max_batch)

    def ready(self, now: float) -> Iterator[list[T]]:
        """Every batch due at `now`, one after the other."""
        while batch := self.take(now):
            yield batch

    def wait_s(self, now: float) -> float | None:
        """Seconds until a batch is due (0 when one is), None when nothing is queued."""
        if not self._queue:
            return None
        if len(self._queue) >= self.max_batch:
            return 0.0
        return max(0.0, self._queue[0][0] + self.max_delay_s - now)

    def flush(self) -> Iterator[list[T]]:
        """Everything queued, in batches of up to `max_batch`, due or not (shutdown drains with this)."""
        while self._queue:
            yield self._pop(self.max_batch)

    def drop(self, unwanted: Callable[[T], bool]) -> list[T]:
        """Remove and return the queued items `unwanted` picks (e.g. records of partitions a rebalance took)."""
        kept, dropped = deque(), []
        for arrived, item in self._queue:
            (dropped.append(item) if unwanted(item) else kept.append((arrived, item)))
        self._queue = kept
        return dropped

    def _pop(self, n: int) -> list[T]:
        return [self._queue.popleft()[1] for _ in range(min(n, len(self._queue)))]
