"""Remembers recently accepted record ids, so that a resend is a duplicate, not a second write."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Sequence
from itertools import repeat


class RecentIds:
    """Ids seen within a time window, bounded in count; ids in flight count as seen.

    A record's id is *claimed* before it is produced, *confirmed* once Kafka acknowledged it,
    and *released* if producing failed, so that a client's resend of a failed record is
    accepted, while two concurrent sends of one id write it once.
    """

    def __init__(
        self, window_s: float, max_ids: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window_s = window_s
        self._max_ids = max_ids
        self._clock = clock
        self._confirmed: OrderedDict[str, float] = OrderedDict()  # id -> time confirmed
        self._pending: set[str] = set()

    def __len__(self) -> int:
        return len(self._confirmed)

    def claim(self, record_id: str) -> bool:
        """True if `record_id` is new (and now in flight); False if it is a duplicate."""
        if record_id in self._pending:
            return False
        seen_at = self._confirmed.get(record_id)
        if seen_at is not None and self._clock() - seen_at <= self._window_s:
            return False
        self._pending.add(record_id)
        return True

    def claim_each(self, record_ids: Sequence[str], skip: Collection[int] = ()) -> list[bool]:
        """`claim` each id in turn, except those at the indices in `skip` (False for those)."""
        pending, confirmed, window_s = self._pending, self._confirmed, self._window_s
        now = self._clock()
        claimed = []
        for index, record_id in enumerate(record_ids):
            if record_id in pending or (skip and index in skip):
                claimed.append(False)
                continue
            seen_at = confirmed.get(record_id)
            if seen_at is not None and now - seen_at <= window_s:
                claimed.append(False)
                continue
            pending.add(record_id)
            claimed.append(True)
        return claimed

    def confirm(self, record_ids: Collection[str]) -> None:
        """Kafka acknowledged these: remember them for the window."""
        now = self._clock()
        confirmed = self._confirmed
        self._pending.difference_update(record_ids)
        # Ids confirmed before (their window had passed) move to the young end; new ones are
        # appended there by `update`, without a Python step per id.
        for record_id in confirmed.keys() & record_ids:
            confirmed.move_to_end(record_id)
        confirmed.update(zip(record_ids, repeat(now)))
        self._evict(now)

    def release(self, record_ids: Iterable[str]) -> None:
        """Producing these failed: forget the claim so a resend is accepted."""
        for record_id in record_ids:
            self._pending.discard(record_id)

    def _evict(self, now: float) -> None:
        confirmed = self._confirmed
        while confirmed and (
            len(confirmed) > self._max_ids or now - next(iter(confirmed.values())) > self._window_s
        ):
            confirmed.popitem(last=False)
