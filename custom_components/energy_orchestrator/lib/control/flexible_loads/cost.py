"""What the grid costs today, under the tariff, netted per period.

Each netting period's net is priced when it closes: a net import at the
import price of the period's start, a net export at its export price
(never more than import). The open period counts at its net so far. A
period belongs to the local day it starts on. A period whose price is not
known makes the day's cost unknown (None): a cost without it would be wrong.
"""

from dataclasses import asdict, dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from .tariff import Tariff


def period_cost(tariff: Tariff, start: datetime, net_wh: float) -> float | None:
    """Return what a period's net costs (negative: earns), None without its price."""
    imports = tariff.import_price.at(start)
    if imports is None:
        return None
    if net_wh >= 0:
        return net_wh / 1000 * imports
    exports = tariff.export_price.at(start)
    if exports is None:
        return None
    return net_wh / 1000 * min(exports, imports)


@dataclass
class CostBook:
    """The day's cost so far (see the module doc)."""

    day: date | None = None
    # The periods closed today; None when one had no price.
    closed: float | None = 0.0
    period_start: datetime | None = None
    period_wh: float = 0.0

    def add(
        self,
        tariff: Tariff,
        moment: datetime,
        energy_wh: float,
        timezone: tzinfo,
    ) -> None:
        """Book the grid energy of a tick that started at ``moment``."""
        start = tariff.period_start(moment)
        if start != self.period_start:
            self._close(tariff)
            self.period_start, self.period_wh = start, 0.0
            day = start.astimezone(timezone).date()
            if day != self.day:
                self.day, self.closed = day, 0.0
        self.period_wh += energy_wh

    def lose(self, day: date) -> None:
        """Make ``day``'s cost unknown: energy of it could not be priced."""
        self.day, self.closed = day, None

    def _close(self, tariff: Tariff) -> None:
        """Price the period that ends."""
        if self.period_start is None or self.closed is None:
            return
        cost = period_cost(tariff, self.period_start, self.period_wh)
        self.closed = None if cost is None else self.closed + cost

    def today(self, tariff: Tariff, now: datetime, timezone: tzinfo) -> float | None:
        """Return today's cost: the closed periods and the open one so far."""
        if self.day != now.astimezone(timezone).date():
            return 0.0
        if self.closed is None or self.period_start is None:
            return self.closed
        open_cost = period_cost(tariff, self.period_start, self.period_wh)
        return None if open_cost is None else self.closed + open_cost

    def snapshot(self) -> dict[str, Any]:
        """Return the book as JSON-able data."""
        saved = asdict(self)
        saved["day"] = self.day.isoformat() if self.day else None
        saved["period_start"] = (
            self.period_start.isoformat() if self.period_start else None
        )
        return saved

    @classmethod
    def restore(cls, saved: dict[str, Any]) -> CostBook:
        """Return the book a snapshot holds."""
        day, start = saved["day"], saved["period_start"]
        return cls(
            date.fromisoformat(day) if day else None,
            None if saved["closed"] is None else float(saved["closed"]),
            datetime.fromisoformat(start) if start else None,
            float(saved["period_wh"]),
        )
