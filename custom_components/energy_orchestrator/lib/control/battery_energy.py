"""Energy counters for every battery of a device that keeps none of its own.

A device's battery (the device itself, or a part of it: a pack, a string, a
GX's inverter/charger) is one that reports its power, or its voltage and
current. Where it reports ``battery_charge_energy`` and
``battery_discharge_energy`` itself (a Victron battery monitor's history),
those are used as they are; everywhere else the two are counted from the
power of each poll (voltage x current where no power is read), so every
battery can go on the Energy dashboard.

A counted total is published only once its earlier total is known: Home
Assistant hands back what the sensor showed before a restart
(``restore``), and the count goes on from there. Until then the total would
be a count since the start alone, lower than the one shown before, which
the Energy dashboard would take for a reset.
"""

from collections.abc import Collection
import math

from ..drivers.values import (
    SUB_DEVICE_SEPARATOR,
    Reading,
    Readings,
    make_reading,
    sub_device_key,
)
from .energy_counter import MAX_GAP_S, BatteryEnergyCounter

CHARGE_ENERGY = "battery_charge_energy"
DISCHARGE_ENERGY = "battery_discharge_energy"
_POWER = "battery_power"
_VOLTAGE = "battery_voltage"
_CURRENT = "battery_current"


def _full_key(part: str, key: str) -> str:
    """Return a key of the device itself (part "") or of a sub-device."""
    return sub_device_key(part, key) if part else key


def counted_parts(keys: Collection[str]) -> dict[str, bool]:
    """Return the parts whose battery energy is counted, and whether by power.

    A part is ``""`` for the device itself or a sub-device's key. It is
    counted when it reports a battery power (True) or a voltage and current
    (False), and no energy counter of its own.
    """
    by_part: dict[str, set[str]] = {}
    for key in keys:
        part, _, base = key.rpartition(SUB_DEVICE_SEPARATOR)
        by_part.setdefault(part, set()).add(base)
    return {
        part: _POWER in bases
        for part, bases in by_part.items()
        if not bases & {CHARGE_ENERGY, DISCHARGE_ENERGY}
        and (_POWER in bases or {_VOLTAGE, _CURRENT} <= bases)
    }


def counted_keys(keys: Collection[str]) -> set[str]:
    """Return the energy keys counted for a device with these keys."""
    return {
        _full_key(part, key)
        for part in counted_parts(keys)
        for key in (CHARGE_ENERGY, DISCHARGE_ENERGY)
    }


def _power(
    part: str, inputs: tuple[str, ...], readings: Readings
) -> tuple[float, float] | None:
    """Return (time, W) of a part's battery power in a poll, or None if unknown.

    ``inputs`` is the power, or the voltage and current it is the product of;
    the time is that of the newest of them.
    """
    power = 1.0
    time = -math.inf
    for key in inputs:
        reading = readings.get(_full_key(part, key))
        if reading is None or isinstance(reading.value, str):
            return None
        power *= reading.value
        time = max(time, reading.timestamp)
    return time, power


class DeviceBatteryEnergy:
    """Counts the energy of each battery part of one device, poll by poll."""

    def __init__(self, max_gap_s: float = MAX_GAP_S) -> None:
        """Start with no count; parts are found in the keys of each poll."""
        self.max_gap_s = max_gap_s
        self._counters: dict[str, BatteryEnergyCounter] = {}
        # Counted keys whose total from before is known (restored or none).
        self._restored: set[str] = set()

    def count(
        self,
        readings: Readings,
        attempted: Collection[str],
        *,
        keys: Collection[str],
        now: float,
    ) -> dict[str, Reading]:
        """Count one poll's battery powers; return the counted totals.

        ``keys`` are the device's keys (which parts are batteries),
        ``attempted`` the keys the poll asked for: a power asked for and not
        read is unknown and ends the count's stretch, one not asked for is
        left out. ``now`` (epoch seconds) stamps the totals.
        """
        for part, by_power in counted_parts(keys).items():
            inputs = (_POWER,) if by_power else (_VOLTAGE, _CURRENT)
            if not any(_full_key(part, key) in attempted for key in inputs):
                continue
            counter = self._counter(part)
            if (sample := _power(part, inputs, readings)) is None:
                counter.interrupt()
            else:
                counter.add(*sample)
        return self.readings(now)

    def interrupt(self) -> None:
        """Note that no power is known now (the device did not answer)."""
        for counter in self._counters.values():
            counter.interrupt()

    def readings(self, now: float) -> dict[str, Reading]:
        """Return the counted totals whose earlier total is known."""
        readings: dict[str, Reading] = {}
        for key in self._restored:
            if (total := self.total(key)) is not None and (
                reading := make_reading(key, total, now)
            ) is not None:
                readings[key] = reading
        return readings

    def restore(self, key: str, energy_wh: float | None) -> None:
        """Continue a counted total from what it was before (None: nothing).

        Called once per key, when its sensor comes back after a restart; a
        second call is ignored, so a total is never restored twice.
        """
        if key in self._restored:
            return
        self._restored.add(key)
        if energy_wh is None or not math.isfinite(energy_wh) or energy_wh < 0:
            return
        part, _, base = key.rpartition(SUB_DEVICE_SEPARATOR)
        counter = self._counter(part)
        if base == CHARGE_ENERGY:
            counter.charged_wh += energy_wh
        elif base == DISCHARGE_ENERGY:
            counter.discharged_wh += energy_wh

    def total(self, key: str) -> float | None:
        """Return a counted total (Wh), or None until its earlier total is known."""
        if key not in self._restored:
            return None
        part, _, base = key.rpartition(SUB_DEVICE_SEPARATOR)
        counter = self._counter(part)
        return counter.charged_wh if base == CHARGE_ENERGY else counter.discharged_wh

    def _counter(self, part: str) -> BatteryEnergyCounter:
        """Return the counter of a part, made on first use."""
        if (counter := self._counters.get(part)) is None:
            counter = self._counters[part] = BatteryEnergyCounter(
                max_gap_s=self.max_gap_s
            )
        return counter
