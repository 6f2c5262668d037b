"""A device's lifetime energy count, shown only once it is plausible.

A meter's count can rise no faster than the most power the device can carry
allows over the time since the last count shown. One read beyond that (a
garbled frame, a spike, another device answering at the address) is held
back: not shown and not kept, until following reads confirm the new level by
rising on from it for a while. A count below the one shown is held back too
(the Energy dashboard would take it for a meter reset); one that stays lower
for long is a meter replaced, which only the user can confirm.

Time comes with every read; nothing here reads a clock.
"""

from dataclasses import dataclass, field
from enum import StrEnum
import math

_SECONDS_PER_HOUR = 3600.0

# The most power a device's count may follow when its family does not say:
# 3 phases of 100 A at 230 V with room to spare.
DEFAULT_MAX_POWER_W = 100_000.0
# A meter counting in whole kWh steps by 1 kWh at once, at any power.
DEFAULT_RESOLUTION_WH = 1000.0
# A jump is taken once this many following reads over this long rise on from it.
CONFIRM_READS = 3
CONFIRM_JUMP_S = 60.0
# A count that stays below the one shown for this long is a meter replaced.
CONFIRM_DROP_S = 600.0


class CountState(StrEnum):
    """What the last read did to the count shown."""

    SHOWN = "shown"
    JUMP_HELD = "jump_held"
    DROP_HELD = "drop_held"
    REPLACED = "replaced"


@dataclass
class EnergyTotal:
    """The count (Wh) a lifetime energy sensor shows, judged read by read."""

    max_power_w: float = DEFAULT_MAX_POWER_W
    resolution_wh: float = DEFAULT_RESOLUTION_WH
    shown_wh: float | None = None
    # When the count shown was read (seconds); None for one restored without.
    shown_at: float | None = None
    state: CountState = CountState.SHOWN
    # Reads held back that agree with each other, oldest first: (seconds, Wh).
    _held: list[tuple[float, float]] = field(default_factory=list, repr=False)
    # When the last read judged was taken.
    _read_at: float | None = field(default=None, repr=False)

    def restore(self, count_wh: float, at: float | None) -> None:
        """Start from the count shown before a restart, read at ``at``."""
        if math.isfinite(count_wh) and count_wh >= 0:
            self.shown_wh, self.shown_at = count_wh, at

    def add(self, count_wh: float, at: float) -> float | None:
        """Judge a read taken at ``at``; return the count to show."""
        if not math.isfinite(count_wh) or count_wh < 0 or at == self._read_at:
            # Not a count, or a read judged already (kept between slow polls).
            return self.shown_wh
        self._read_at = at
        shown = self.shown_wh
        if shown is None or self._follows(shown, self.shown_at, count_wh, at):
            self._show(count_wh, at)
            return count_wh
        self._hold(count_wh, at)
        return self.shown_wh

    def accept_replacement(self) -> None:
        """Take the lower count of a replaced meter: the user confirmed it."""
        if self.state is CountState.REPLACED and self._held:
            self._show(self._held[-1][1], self._held[-1][0])

    def _follows(
        self, start_wh: float, start_at: float | None, count_wh: float, at: float
    ) -> bool:
        """Return whether a count can follow another: up, and no faster than allowed."""
        if count_wh < start_wh:
            return False
        if start_at is None:
            # Restored without a time: any rise may have happened meanwhile.
            return True
        elapsed_s = max(at - start_at, 0.0)
        allowed = self.max_power_w * elapsed_s / _SECONDS_PER_HOUR + self.resolution_wh
        return count_wh - start_wh <= allowed

    def _show(self, count_wh: float, at: float) -> None:
        """Show a count; what was held back is forgotten."""
        self.shown_wh, self.shown_at = count_wh, at
        self.state = CountState.SHOWN
        self._held.clear()

    def _hold(self, count_wh: float, at: float) -> None:
        """Hold a read back; take the level it is on once enough reads agree."""
        if self._held:
            last_at, last_wh = self._held[-1]
            if not self._follows(last_wh, last_at, count_wh, at):
                self._held.clear()
        self._held.append((at, count_wh))
        first_at = self._held[0][0]
        assert self.shown_wh is not None, "only a count shown holds reads back"
        if count_wh > self.shown_wh:
            self.state = CountState.JUMP_HELD
            if len(self._held) > CONFIRM_READS and at - first_at >= CONFIRM_JUMP_S:
                self._show(count_wh, at)
        elif self.state is not CountState.REPLACED:
            self.state = CountState.DROP_HELD
            far_lower = count_wh < self.shown_wh - self.resolution_wh
            if (
                far_lower
                and len(self._held) > CONFIRM_READS
                and at - first_at >= CONFIRM_DROP_S
            ):
                self.state = CountState.REPLACED
