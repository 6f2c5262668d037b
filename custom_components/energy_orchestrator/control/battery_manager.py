"""The battery manager: the SOC estimator and the state machine, as one unit.

This is what Home Assistant (and ``eo soc``) drive: ``update`` once per step
with a sample of the battery's voltage and current, ``request_mode`` and
``calibrate_soc`` for the user's actions, ``snapshot`` for what must survive
a restart. A manager restored from a snapshot continues its count and its
state; it never starts over from the voltage when a snapshot exists.
"""

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta, tzinfo
import math
from typing import Any, Self

from .battery_model import (
    CELL_MODELS,
    Chemistry,
    soc_from_ocv,
    soc_uncertainty_from_voltage,
)
from .battery_states import (
    BatteryMode,
    BatteryState,
    BatteryStateMachine,
    Reason,
    StateLimits,
    Transition,
    machine_state_from,
)
from .coulomb import CoulombCounter, CounterLimits, counter_state_from

__all__ = [
    "BatteryManager",
    "BatteryManagerSettings",
    "BatteryMode",
    "BatterySample",
    "BatteryState",
    "BatteryStatus",
    "Chemistry",
    "Reason",
    "SavedStateError",
    "SettingsError",
    "Transition",
]

# Bumped when the snapshot's layout changes.
SNAPSHOT_VERSION = 1
# A BMS's own SOC is a fair start when nothing else is known (it counts
# too), but not better than this.
BMS_SOC_UNCERTAINTY = 0.1


class SettingsError(ValueError):
    """Settings that cannot work together; ``field`` names the culprit."""

    def __init__(self, field: str, code: str, message: str) -> None:
        """Keep the field, a stable code for translations, and a sentence."""
        super().__init__(message)
        self.field = field
        self.code = code


class SavedStateError(ValueError):
    """A snapshot that cannot be resumed from."""


@dataclass(frozen=True)
class BatteryManagerSettings:
    """What the user sets: the battery, its limits, its time windows."""

    chemistry: Chemistry
    cells_in_series: int
    capacity_ah: float
    soc_floor: float
    soc_ceiling: float
    cell_voltage_min: float
    cell_voltage_max: float
    tail_current_a: float
    min_rest_s: float
    charge_window: tuple[time, time] | None = None
    sell_window: tuple[time, time] | None = None
    max_charge_current_a: float | None = None
    max_discharge_current_a: float | None = None

    @classmethod
    def defaults(
        cls, chemistry: Chemistry, cells_in_series: int, capacity_ah: float
    ) -> Self:
        """Return sensible settings for a battery: the chemistry's limits.

        The ceiling of 80 % keeps lithium cells out of the stressful top of
        their range; a user who wants 70 % or 100 % changes it.
        """
        model = CELL_MODELS[chemistry]
        return cls(
            chemistry=chemistry,
            cells_in_series=cells_in_series,
            capacity_ah=capacity_ah,
            soc_floor=20.0,
            soc_ceiling=80.0,
            cell_voltage_min=model.voltage_min,
            cell_voltage_max=model.voltage_max,
            # A charger's usual end of absorption: C/50.
            tail_current_a=round(capacity_ah / 50, 2),
            min_rest_s=15 * 60,
        )

    def validate(self) -> None:
        """Raise SettingsError for settings that cannot work."""
        model = CELL_MODELS[self.chemistry]
        checks: tuple[tuple[bool, str, str, str], ...] = (
            (
                self.cells_in_series >= 1,
                "cells_in_series",
                "out_of_range",
                "A battery has at least one cell.",
            ),
            (
                _finite(self.capacity_ah) and self.capacity_ah > 0,
                "capacity_ah",
                "out_of_range",
                "The capacity must be positive.",
            ),
            (
                0 <= self.soc_floor <= 100,
                "soc_floor",
                "out_of_range",
                "The floor is a percentage.",
            ),
            (
                0 <= self.soc_ceiling <= 100,
                "soc_ceiling",
                "out_of_range",
                "The ceiling is a percentage.",
            ),
            (
                self.soc_floor + 5 <= self.soc_ceiling,
                "soc_floor",
                "floor_above_ceiling",
                f"The floor ({self.soc_floor:g} %) must be at least 5 points below the ceiling ({self.soc_ceiling:g} %).",
            ),
            (
                model.plausible_min <= self.cell_voltage_min <= model.plausible_max,
                "cell_voltage_min",
                "voltage_implausible",
                f"A cut-off of {self.cell_voltage_min:g} V is not plausible for {self.chemistry.value}.",
            ),
            (
                model.plausible_min <= self.cell_voltage_max <= model.plausible_max,
                "cell_voltage_max",
                "voltage_implausible",
                f"An absorb voltage of {self.cell_voltage_max:g} V is not plausible for {self.chemistry.value}.",
            ),
            (
                self.cell_voltage_min + 0.1 <= self.cell_voltage_max,
                "cell_voltage_min",
                "cutoff_above_absorb",
                "The cut-off voltage must be below the absorb voltage.",
            ),
            (
                self.tail_current_a >= 0,
                "tail_current_a",
                "out_of_range",
                "The tail current cannot be negative.",
            ),
            (
                0 <= self.min_rest_s <= 86400,
                "min_rest_s",
                "out_of_range",
                "The minimum rest is between 0 and 24 hours.",
            ),
            (
                self.max_charge_current_a is None or self.max_charge_current_a > 0,
                "max_charge_current_a",
                "out_of_range",
                "The maximum charge current must be positive.",
            ),
            (
                self.max_discharge_current_a is None
                or self.max_discharge_current_a > 0,
                "max_discharge_current_a",
                "out_of_range",
                "The maximum discharge current must be positive.",
            ),
        )
        for ok, field, code, message in checks:
            if not ok:
                raise SettingsError(field, code, message)

    @property
    def max_plausible_current_a(self) -> float:
        """Return the largest current a reading may claim before it is a spike.

        Three times the configured maximum, or 5C without one: a real battery
        current does not exceed that, a glitched reading often does.
        """
        limits = [
            a for a in (self.max_charge_current_a, self.max_discharge_current_a) if a
        ]
        return 3 * max(limits) if limits else 5 * self.capacity_ah


@dataclass(frozen=True)
class BatterySample:
    """One reading of the battery; None where a value is unknown."""

    voltage_v: float | None
    current_a: float | None = None
    # Used for the current when no current is measured (I = P / U).
    power_w: float | None = None
    temperature_c: float | None = None
    bms_soc: float | None = None


@dataclass(frozen=True)
class BatteryStatus:
    """What the manager shows after a step."""

    now: datetime
    soc: float | None  # %
    soc_uncertainty: float | None  # % points, one sigma
    soc_source: str
    ah_charged: float
    ah_discharged: float
    coulombic_efficiency: float  # 0..1
    learned_capacity_ah: float
    state_of_health: float  # %
    current_offset_a: float
    state: BatteryState
    state_since: datetime
    reason: Reason
    detail: str
    mode: BatteryMode
    mode_until: datetime | None
    rejected_samples: dict[str, int]
    # Set on the step a transition happened.
    transition: Transition | None = None


def _finite(value: float | None) -> bool:
    """Return whether a value is a finite number."""
    return value is not None and math.isfinite(value)


class BatteryManager:
    """Counts the battery's charge and decides its state. See module doc."""

    def __init__(
        self,
        settings: BatteryManagerSettings,
        *,
        now: datetime,
        saved: dict[str, Any] | None = None,
        local_tz: tzinfo = UTC,
    ) -> None:
        """Resume from ``saved``, or start new; raise SavedStateError if unusable."""
        settings.validate()
        self.settings = settings
        self.local_tz = local_tz
        limits = _counter_limits(settings)
        if saved is None:
            self.counter = CoulombCounter(limits)
            self.machine = BatteryStateMachine.starting(_state_limits(settings), now)
        else:
            if saved.get("version") != SNAPSHOT_VERSION:
                raise SavedStateError(
                    f"saved state has version {saved.get('version')!r},"
                    f" this manager reads {SNAPSHOT_VERSION}"
                )
            try:
                counter_state = counter_state_from(saved["counter"])
                memory = machine_state_from(saved["machine"])
            except (KeyError, TypeError, ValueError) as err:
                raise SavedStateError(f"saved state is damaged: {err}") from err
            self.counter = CoulombCounter(limits, counter_state)
            self.machine = BatteryStateMachine(_state_limits(settings), memory)
        self._status = self._make_status(now, None)

    @property
    def status(self) -> BatteryStatus:
        """Return the status of the last step."""
        return self._status

    def update(self, now: datetime, sample: BatterySample) -> BatteryStatus:
        """Run one step: count, let the witnesses speak, decide the state."""
        voltage = self._plausible_voltage(sample.voltage_v)
        current = sample.current_a if _finite(sample.current_a) else None
        if current is None and voltage is not None and _finite(sample.power_w):
            assert sample.power_w is not None
            current = sample.power_w / voltage
        temperature = sample.temperature_c if _finite(sample.temperature_c) else None
        if self.counter.soc is None and voltage is not None:
            self._initialise(voltage, sample.bms_soc)
        self.counter.step(
            now,
            voltage,
            current,
            idle=self.machine.memory.state is BatteryState.REST,
            temperature_c=temperature,
        )
        soc = self.counter.soc
        transition = self.machine.step(
            now,
            now.astimezone(self.local_tz).time(),
            soc * 100 if soc is not None else None,
            voltage / self.settings.cells_in_series if voltage is not None else None,
        )
        self._status = self._make_status(now, transition)
        return self._status

    def request_mode(
        self, now: datetime, mode: BatteryMode, until: datetime | None = None
    ) -> None:
        """Ask for a mode, held until ``until`` (None: until changed)."""
        self.machine.request(now, mode, until)
        self._status = replace(
            self._status, mode=mode, mode_until=self.machine.memory.mode_until
        )

    def calibrate_soc(self, now: datetime, soc_percent: float) -> None:
        """Take the SOC the user knows; raise ValueError outside 0..100."""
        if not (_finite(soc_percent) and 0 <= soc_percent <= 100):
            raise ValueError(f"a state of charge is 0..100 %, not {soc_percent}")
        self.counter.calibrate(soc_percent / 100)
        self._status = self._make_status(now, None)

    def apply_settings(self, settings: BatteryManagerSettings) -> None:
        """Change settings in place, keeping the count and the state."""
        settings.validate()
        self.settings = settings
        self.counter.limits = _counter_limits(settings)
        self.machine.limits = _state_limits(settings)

    def snapshot(self) -> dict[str, Any]:
        """Return everything needed to resume, as JSON-able data."""
        return {
            "version": SNAPSHOT_VERSION,
            "counter": self.counter.snapshot(),
            "machine": self.machine.snapshot(),
        }

    def _plausible_voltage(self, voltage: float | None) -> float | None:
        """Return the voltage if a pack of this chemistry can show it."""
        if not _finite(voltage):
            return None
        assert voltage is not None
        model = CELL_MODELS[self.settings.chemistry]
        cell = voltage / self.settings.cells_in_series
        return voltage if model.plausible_min <= cell <= model.plausible_max else None

    def _initialise(self, voltage: float, bms_soc: float | None) -> None:
        """Start a SOC with no saved state: from the BMS, else the voltage."""
        if _finite(bms_soc) and bms_soc is not None and 0 <= bms_soc <= 100:
            self.counter.initialise(bms_soc / 100, BMS_SOC_UNCERTAINTY, "bms")
            return
        chemistry = self.settings.chemistry
        soc = soc_from_ocv(chemistry, voltage / self.settings.cells_in_series)
        # Under load the voltage is off its OCV, and LFP's plateau is vague:
        # the first rest or full charge will correct it.
        self.counter.initialise(
            soc, max(soc_uncertainty_from_voltage(chemistry, soc), 0.05), "voltage"
        )

    def _make_status(
        self, now: datetime, transition: Transition | None
    ) -> BatteryStatus:
        """Assemble the status from the counter and the machine."""
        counter = self.counter.state
        memory = self.machine.memory
        return BatteryStatus(
            now=now,
            soc=counter.soc * 100 if counter.soc is not None else None,
            soc_uncertainty=counter.uncertainty * 100
            if counter.soc is not None
            else None,
            soc_source=counter.source,
            ah_charged=counter.ah_charged,
            ah_discharged=counter.ah_discharged,
            coulombic_efficiency=counter.efficiency,
            learned_capacity_ah=counter.capacity_ah,
            state_of_health=self.counter.state_of_health,
            current_offset_a=counter.offset_a,
            state=memory.state,
            state_since=memory.since,
            reason=memory.reason,
            detail=memory.detail,
            mode=memory.mode,
            mode_until=memory.mode_until,
            rejected_samples=dict(counter.rejected),
            transition=transition,
        )


def _counter_limits(settings: BatteryManagerSettings) -> CounterLimits:
    """Return what the estimator needs of the settings."""
    return CounterLimits(
        chemistry=settings.chemistry,
        cells_in_series=settings.cells_in_series,
        nameplate_ah=settings.capacity_ah,
        voltage_min=settings.cell_voltage_min,
        voltage_max=settings.cell_voltage_max,
        tail_current_a=settings.tail_current_a,
        max_plausible_current_a=settings.max_plausible_current_a,
    )


def _state_limits(settings: BatteryManagerSettings) -> StateLimits:
    """Return what the state machine needs of the settings."""
    return StateLimits(
        soc_floor=settings.soc_floor,
        soc_ceiling=settings.soc_ceiling,
        cell_voltage_min=settings.cell_voltage_min,
        cell_voltage_max=settings.cell_voltage_max,
        min_rest=timedelta(seconds=settings.min_rest_s),
        charge_window=settings.charge_window,
        sell_window=settings.sell_window,
    )
