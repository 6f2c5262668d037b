"""What peak shaving keeps over a restart, and reading it back.

The billed peak (of its billing period), the user's limits and whether
shaving runs; and what was learned of the forecasts' caution: the recorder
seeds only the past week, too short to learn it again.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
import math
from typing import Any

from ..billing import billing_period_key
from ..forecast_caution import ForecastCaution
from .settings import LimitOverride, PeakShavingSettings

VERSION = 1


@dataclass(frozen=True)
class Snapshot:
    """What a restart keeps."""

    billed_peak_w: float
    billing_period: str | None
    started: bool
    # None from snapshots older than the caution.
    forecast_caution: ForecastCaution | None
    override: LimitOverride | None

    def as_dict(self) -> dict[str, Any]:
        """Return the snapshot as plain JSON values."""
        override = self.override
        return {
            "version": VERSION,
            "billed_peak_w": self.billed_peak_w,
            "billing_period": self.billing_period,
            "started": self.started,
            "forecast_caution": None
            if self.forecast_caution is None
            else self.forecast_caution.snapshot(),
            "override": None
            if override is None
            else {
                "import_limit_w": override.import_limit_w,
                "export_limit_w": override.export_limit_w,
                "until": override.until.isoformat() if override.until else None,
            },
        }

    @classmethod
    def read(
        cls, saved: Mapping[str, Any], *, now: datetime, settings: PeakShavingSettings
    ) -> Snapshot:
        """Read a snapshot back; raise ValueError if it is not one."""
        if saved.get("version") != VERSION:
            raise ValueError(
                f"saved peak-shaving state has version {saved.get('version')!r}"
            )
        peak = float(saved["billed_peak_w"])
        if not (math.isfinite(peak) and peak >= 0):
            raise ValueError("saved billed peak is not a power")
        # Older snapshots carry no period: their peak counts for the running one.
        key = saved.get("billing_period")
        period = (
            str(key)
            if key is not None
            else billing_period_key(now, settings.billing_period, settings.time_zone)
        )
        started = bool(saved["started"])
        # Older snapshots learned nothing yet: the caution starts at its maximum.
        caution = saved.get("forecast_caution")
        forecast_caution = None
        if caution is not None:
            if not isinstance(caution, Mapping):
                raise ValueError("saved forecast caution is not a coverage record")
            forecast_caution = ForecastCaution.restore(caution)
        override = saved.get("override")
        limits = None
        if override is not None:
            until = override.get("until")
            limits = LimitOverride(
                override.get("import_limit_w"),
                override.get("export_limit_w"),
                datetime.fromisoformat(until) if until else None,
            )
        return cls(peak, period, started, forecast_caution, limits)
