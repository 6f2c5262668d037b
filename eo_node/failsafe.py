"""The fail-safe's watchdog: when the controller is gone, and when it is back.

It arms when the first heartbeat is heard: a node nobody controls has
nothing to guard. A node restarted with settings its earlier run wrote
arms at start instead, as if a heartbeat had been heard then: a controller
that does not show up within the timeout gets them released. Armed, it trips when the heartbeat has been missing for
the timeout (which covers the broker being lost that long: no heartbeat
arrives through a lost broker), or at once when Home Assistant's MQTT will
says ``offline``. A heartbeat heard while tripped hands control back.

It decides only; the node applies the safe actions. The clock is a parameter.
"""

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Why the fail-safe tripped."""

    HEARTBEAT_MISSING = "heartbeat_missing"
    HOME_ASSISTANT_OFFLINE = "home_assistant_offline"
    RESTARTED_WITHOUT_HEARTBEAT = "restarted_without_heartbeat"


@dataclass(frozen=True, slots=True)
class Tripped:
    """The fail-safe has just tripped."""

    reason: Reason
    # Seconds since the last heartbeat (since the start, when none was heard).
    silent_s: float


@dataclass(frozen=True, slots=True)
class Restored:
    """The heartbeat is back: control goes back to the controller."""

    held_s: float


class Watchdog:
    """Watches a controller's heartbeat."""

    def __init__(self, timeout: float) -> None:
        """Start disarmed: no heartbeat heard yet."""
        self.timeout = timeout
        self.last_heartbeat: float | None = None
        self.tripped_at: float | None = None
        # Whether a heartbeat was heard, not only assumed at start.
        self.heard = False

    def arm_at_start(self, now: float) -> None:
        """Watch from now, as if a heartbeat had just been heard."""
        self.last_heartbeat = now

    @property
    def armed(self) -> bool:
        """Return whether it watches: a heartbeat heard, or armed at start."""
        return self.last_heartbeat is not None

    @property
    def holding(self) -> bool:
        """Return whether the safe state holds now."""
        return self.tripped_at is not None

    def heartbeat(self, now: float) -> Restored | None:
        """Note a heartbeat; return Restored when it ends the safe state."""
        self.last_heartbeat = now
        self.heard = True
        if self.tripped_at is None:
            return None
        held = now - self.tripped_at
        self.tripped_at = None
        return Restored(held)

    def home_assistant_offline(self, now: float) -> Tripped | None:
        """Note Home Assistant's will; trip at once if armed and not tripped."""
        if self.last_heartbeat is None or self.tripped_at is not None:
            return None
        self.tripped_at = now
        return Tripped(Reason.HOME_ASSISTANT_OFFLINE, now - self.last_heartbeat)

    def check(self, now: float) -> Tripped | None:
        """Return Tripped when the heartbeat has just been missing too long."""
        if self.last_heartbeat is None or self.tripped_at is not None:
            return None
        silent = now - self.last_heartbeat
        if silent < self.timeout:
            return None
        self.tripped_at = now
        if not self.heard:
            return Tripped(Reason.RESTARTED_WITHOUT_HEARTBEAT, silent)
        return Tripped(Reason.HEARTBEAT_MISSING, silent)

    def due_in(self, now: float) -> float | None:
        """Return the seconds until the next check can trip, None if it cannot."""
        if self.last_heartbeat is None or self.tripped_at is not None:
            return None
        return max(0.0, self.last_heartbeat + self.timeout - now)
