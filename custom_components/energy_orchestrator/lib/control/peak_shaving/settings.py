"""What the user sets for peak shaving: the settings, and limits for a while."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
import math

from ..billing import BillingPeriod
from ..setpoint_limits import BatteryPhases


@dataclass(frozen=True)
class PeakShavingSettings:
    """What the user sets."""

    import_limit_w: float | None = None
    export_limit_w: float | None = None
    billing_interval: timedelta = timedelta(minutes=15)
    billing_period: BillingPeriod = BillingPeriod.MONTH
    # The site's time zone: billing periods start at its local midnight.
    time_zone: tzinfo = UTC
    horizon: timedelta = timedelta(hours=48)
    replan_every: timedelta = timedelta(hours=1)
    # The most one phase may carry either way (the main fuse), held at every
    # step where the meter measures the phases; and which phases the
    # battery's inverter feeds.
    phase_limit_w: float | None = None
    battery_phases: BatteryPhases = BatteryPhases.THREE
    # The most the grid connection may import (the contracted power, the
    # main breaker): safety, never raised by a lift nor a limit set by hand.
    connection_limit_w: float | None = None

    def validate(self) -> None:
        """Raise ValueError naming what cannot work."""
        if self.import_limit_w is not None and not (
            math.isfinite(self.import_limit_w) and self.import_limit_w >= 0
        ):
            raise ValueError("the import limit must be a number >= 0 W")
        if self.export_limit_w is not None and not (
            math.isfinite(self.export_limit_w) and self.export_limit_w >= 0
        ):
            raise ValueError("the export limit must be a number >= 0 W")
        minutes = self.billing_interval.total_seconds() / 60
        if minutes < 1 or 1440 % minutes:
            raise ValueError(
                "the billing interval must divide a day into whole minutes"
            )
        if self.horizon < timedelta(hours=24):
            raise ValueError("the planning horizon must be at least 24 hours")
        if self.phase_limit_w is not None and not (
            math.isfinite(self.phase_limit_w) and self.phase_limit_w > 0
        ):
            raise ValueError("the phase limit must be a number > 0 W")
        if self.connection_limit_w is not None and not (
            math.isfinite(self.connection_limit_w) and self.connection_limit_w > 0
        ):
            raise ValueError("the connection limit must be a number > 0 W")


@dataclass
class LimitOverride:
    """A user's limits, for a while or until changed."""

    import_limit_w: float | None
    export_limit_w: float | None
    until: datetime | None

    @classmethod
    def asked(
        cls,
        now: datetime,
        import_limit_w: float | None,
        export_limit_w: float | None,
        until: datetime | None,
    ) -> LimitOverride:
        """Return the limits a user asks for now; raise ValueError if they cannot hold."""
        for value in (import_limit_w, export_limit_w):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError("a limit is a number >= 0 W")
        if until is not None and until <= now:
            raise ValueError("the end of the limits' window is in the past")
        return cls(import_limit_w, export_limit_w, until)

    def expired(self, now: datetime) -> bool:
        """Return whether the limits' window is over."""
        return self.until is not None and now >= self.until
