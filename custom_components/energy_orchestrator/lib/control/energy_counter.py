"""A battery's energy in and out, counted from its power over time.

The Energy dashboard wants two lifetime counters for a battery: the energy
charged into it and the energy discharged from it. Few batteries keep them,
so they are counted here from the power (> 0 charging, the value model's
sign) sampled at each poll: trapezoids between consecutive samples, split
where the power crosses zero so each side goes to its own counter.

What is not known is not counted: an unavailable power ends the stretch of
samples, and so does a gap longer than ``max_gap_s`` (a restart, a device
that stayed silent). Counting resumes from the next known sample on. Time
comes with every sample; nothing here reads a clock.
"""

from dataclasses import dataclass, field
import math
from typing import Any

# Samples further apart than this are not integrated: holding a power over
# a minute of silence would be a guess. Devices are polled every 5 s.
MAX_GAP_S = 60.0
_SECONDS_PER_HOUR = 3600.0


@dataclass
class BatteryEnergyCounter:
    """Counts Wh charged and discharged from a battery's sampled power."""

    charged_wh: float = 0.0
    discharged_wh: float = 0.0
    max_gap_s: float = MAX_GAP_S
    # The last known sample, (seconds, W); None when the next one starts anew.
    _last: tuple[float, float] | None = field(default=None, repr=False)

    def add(self, time_s: float, power_w: float) -> None:
        """Count the stretch from the last sample to this one.

        A sample at the same time as the last adds nothing; one earlier than
        the last (a clock set back) or after a long gap starts anew.
        """
        if not math.isfinite(power_w):
            self.interrupt()
            return
        last = self._last
        if last is not None and time_s == last[0]:
            return
        self._last = (time_s, power_w)
        if last is None:
            return
        last_time, last_power = last
        span = time_s - last_time
        if span < 0 or span > self.max_gap_s:
            return
        self._count(last_power, power_w, span)

    def interrupt(self) -> None:
        """Note that the power is unknown now: the next sample starts anew."""
        self._last = None

    def snapshot(self) -> dict[str, float]:
        """Return the totals, for saving; the last sample is not kept.

        A restart is a gap: counting after it starts from the first sample.
        """
        return {"charged_wh": self.charged_wh, "discharged_wh": self.discharged_wh}

    @classmethod
    def from_snapshot(cls, saved: dict[str, Any]) -> BatteryEnergyCounter:
        """Return a counter resuming saved totals; raise ValueError if unusable."""
        charged = float(saved["charged_wh"])
        discharged = float(saved["discharged_wh"])
        if not all(math.isfinite(v) and v >= 0 for v in (charged, discharged)):
            raise ValueError(f"saved battery energy is not a count: {saved!r}")
        return cls(charged_wh=charged, discharged_wh=discharged)

    def _count(self, start_w: float, end_w: float, span_s: float) -> None:
        """Add the trapezoid between two powers to the side(s) it lies on."""
        if start_w * end_w < 0:
            # The power crossed zero: two triangles, one on each side.
            crossing = span_s * start_w / (start_w - end_w)
            self._add_side(start_w * crossing / 2)
            self._add_side(end_w * (span_s - crossing) / 2)
            return
        self._add_side((start_w + end_w) * span_s / 2)

    def _add_side(self, energy_ws: float) -> None:
        """Add watt-seconds to the charged (> 0) or discharged (< 0) total."""
        if energy_ws > 0:
            self.charged_wh += energy_ws / _SECONDS_PER_HOUR
        elif energy_ws < 0:
            self.discharged_wh -= energy_ws / _SECONDS_PER_HOUR
