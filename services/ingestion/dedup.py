"""Remembers recently accepted record ids, so that a resend is a duplicate, not a second write."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from itertools import repeat


class RecentIds:
    """Ids seen within a time window, bounded in count; ids in flight count as seen.

    A record's id is *claimed* before it is produced, *confirmed* once Kafka acknowledged it,
    and *released* if producing failed, so that a client's resend of a failed record is
    accepted, while two concurrent sends of one id write it once.

    This runs for every record ingested, so a batch is handled with set and dict operations
    rather than a Python step per id where it can: confirmed ids live in one dict (id -> time
    confirmed), and each `confirm` call is remembered as a generation, the unit in which ids
    are forgotten once the window passed them or the count went over its bound.
    """

    def __init__(
        self, window_s: float, max_ids: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window_s = window_s
        self._max_ids = max_ids
        self._clock = clock
        self._confirmed: dict[str, float] = {}  # id -> time confirmed
        self._generations: deque[tuple[float, Sequence[str]]] = deque()  # oldest first
        self._pending: set[str] = set()

    def __len__(self) -> int:
        return len(self._confirmed)

    def claim(self, record_id: str) -> bool:
        """True if `record_id` is new (and now in flight); False if it is a duplicate."""
        return self.claim_each([record_id])[0]

    def claim_each(self, record_ids: Sequence[str], skip: Collection[int] = ()) -> list[bool]:
        """`claim` each id in turn, except those at the indices in `skip` (False for those)."""
        pending, confirmed, window_s = self._pending, self._confirmed, self._window_s
        now = self._clock()
        batch = set(record_ids)
        taken = pending & batch
        for record_id in confirmed.keys() & batch:
            if now - confirmed[record_id] <= window_s:
                taken.add(record_id)
        if not taken and not skip and len(batch) == len(record_ids):
            pending |= batch  # the usual batch: every id new, none twice
            return [True] * len(record_ids)
        claimed = []
        for index, record_id in enumerate(record_ids):
            if record_id in taken or (skip and index in skip):
                claimed.append(False)
                continue
            taken.add(record_id)  # a repeat later in the batch is a duplicate
            pending.add(record_id)
            claimed.append(True)
        return claimed

    def confirm(self, record_ids: Sequence[str]) -> None:
        """Kafka acknowledged these: remember them for the window."""
        if not record_ids:
            return
        now = self._clock()
        self._pending.difference_update(record_ids)
        self._confirmed.update(zip(record_ids, repeat(now)))
        self._generations.append((now, record_ids))
        self._evict(now)

    def release(self, record_ids: Iterable[str]) -> None:
        """Producing these failed: forget the claim so a resend is accepted."""
        self._pending.difference_update(record_ids)

    def _evict(self, now: float) -> None:
        confirmed, generations = self._confirmed, self._generations
        while generations and (
            len(confirmed) > self._max_ids or now - generations[0][0] > self._window_s
        ):
            confirmed_at, record_ids = generations.popleft()
            for record_id in record_ids:
                # Unless a later generation confirmed it again (after its window had passed).
                if confirmed.get(record_id) == confirmed_at:
                    del confirmed[record_id]
