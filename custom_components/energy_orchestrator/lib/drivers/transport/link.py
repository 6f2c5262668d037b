"""What every link shares: counters; and the backoff of a raw serial port."""

from collections.abc import Callable
from dataclasses import dataclass
import logging
from typing import Protocol

from ..errors import LinkError
from .endpoint import Endpoint

_LOGGER = logging.getLogger(__name__)

# A port that cannot be opened is tried again after 1 s, then 2, 4 ... up to
# a minute: a ser2net host that reboots is back within seconds, one that is
# gone is not hammered. (Modbus connections reconnect on their own.)
BACKOFF_MIN = 1.0
BACKOFF_MAX = 60.0


@dataclass(slots=True)
class LinkStats:
    """What went over a link, for diagnostics and benchmarks."""

    requests: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    failures: int = 0
    connects: int = 0


class Link(Protocol):
    """A connection to one bus, shared by the devices on it."""

    endpoint: Endpoint
    stats: LinkStats

    async def close(self) -> None:
        """Stop using the connection."""


class Backoff:
    """Spaces out attempts to open a serial port that cannot be opened."""

    def __init__(self, endpoint: Endpoint, monotonic: Callable[[], float]) -> None:
        """Start ready to connect."""
        self._endpoint = endpoint
        self._monotonic = monotonic
        self._delay = 0.0
        self._next_attempt = -float("inf")
        self._last_error = ""

    def check(self) -> None:
        """Raise LinkError when it is too early for another attempt."""
        now = self._monotonic()
        if now < self._next_attempt:
            raise LinkError(
                f"{self._endpoint} is unreachable ({self._last_error});"
                f" next attempt in {self._next_attempt - now:.1f} s"
            )

    def failed(self, error: str) -> LinkError:
        """Record a failed attempt; return the error to raise."""
        self._last_error = error
        self._delay = min(max(self._delay * 2, BACKOFF_MIN), BACKOFF_MAX)
        self._next_attempt = self._monotonic() + self._delay
        return LinkError(f"cannot connect to {self._endpoint}: {error}")

    def succeeded(self) -> None:
        """Record a connection; the next failure starts from the shortest wait."""
        if self._delay:
            _LOGGER.info("%s: connected again", self._endpoint)
        self._delay = 0.0
        self._next_attempt = -float("inf")
