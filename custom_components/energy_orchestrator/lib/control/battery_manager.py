"""The battery manager: the SOC estimator and the state machine, as one unit.

This is what Home Assistant (and ``eo soc``) drive: ``update`` once per step
with a sample of the battery's voltage and current, ``request_mode`` and
``calibrate_soc`` for the user's actions, ``snapshot`` for what must survive
a restart. A manager restored from a snapshot continues its count and its
state; it never starts over from the voltage when a snapshot exists.
"""

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from ..rounding import (
    AMPERE_HOUR_DECIMALS,
    PERCENT_DECIMALS,
    RATIO_DECIMALS,
    WATT_HOUR_DECIMALS,
    rounded,
)
from .battery_model import Chemistry
from .battery_price_plan import BatteryPricePlan
from .battery_settings import BatteryManagerSettings, SettingsError, is_finite
from .battery_states import (
    BatteryMode,
    BatteryState,
    BatteryStateMachine,
    Decision,
    Reason,
    StateLimits,
    Transition,
    machine_state_from,
)
from .coulomb import CoulombCounter, counter_state_from, counter_state_from_v1
from .energy_counter import BatteryEnergyCounter
from .soc_estimator import BatterySample, SocEstimator, counter_limits

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

# Bumped when the snapshot's layout changes; 2 keeps the SOC estimator's
# covariances (1 is migrated on restore).
SNAPSHOT_VERSION = 2


class SavedStateError(ValueError):
    """A snapshot that cannot be resumed from."""


@dataclass(frozen=True)
class BatteryStatus:
    """What the manager shows after a step."""

    now: datetime
    soc: float | None  # %
    soc_uncertainty: float | None  # % points, one sigma
    soc_source: str
    ah_charged: float
    ah_discharged: float
    # Energy counted from voltage x current (or power), for the Energy dashboard.
    energy_charged_wh: float
    energy_discharged_wh: float
    coulombic_efficiency: float  # 0..1
    learned_capacity_ah: float
    learned_capacity_uncertainty_ah: float  # one sigma
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
    # The SOC (%) a peak-shaving plan holds in this battery (None: no plan).
    reserve_soc: float | None = None
    # The price plan the state followed (None: the time windows decided).
    price_plan: BatteryPricePlan | None = None
    # Whose plan that is ("own_prices", "flexible_loads"), and the name of
    # the entry that made it.
    follows: str | None = None
    planned_by: str | None = None


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
        limits = counter_limits(settings)
        self.energy = BatteryEnergyCounter()
        if saved is None:
            self.counter = CoulombCounter(limits)
            self.machine = BatteryStateMachine.starting(_state_limits(settings), now)
        else:
            version = saved.get("version")
            if version not in (1, SNAPSHOT_VERSION):
                raise SavedStateError(
                    f"saved state has version {version!r},"
                    f" this manager reads 1 to {SNAPSHOT_VERSION}"
                )
            try:
                counter_data = saved["counter"]
                if version == 1:
                    counter_data = counter_state_from_v1(
                        counter_data, settings.capacity_ah
                    )
                counter_state = counter_state_from(counter_data)
                memory = machine_state_from(saved["machine"])
                # Saved before energy was counted: it counts from 0 on.
                if "energy" in saved:
                    self.energy = BatteryEnergyCounter.from_snapshot(saved["energy"])
            except (KeyError, TypeError, ValueError) as err:
                raise SavedStateError(f"saved state is damaged: {err}") from err
            self.counter = CoulombCounter(limits, counter_state)
            self.machine = BatteryStateMachine(_state_limits(settings), memory)
        self.estimator = SocEstimator(settings, self.counter)
        self._status = self._make_status(now, None)

    @property
    def status(self) -> BatteryStatus:
        """Return the status of the last step."""
        return self._status

    def update(
        self,
        now: datetime,
        sample: BatterySample,
        *,
        reserve_soc: float | None = None,
        plan: Decision | None = None,
    ) -> BatteryStatus:
        """Run one step: count, let the witnesses speak, decide the state.

        ``reserve_soc`` is the SOC (%) a peak-shaving plan holds in this
        battery now; automatic selling stops there. ``plan`` is the state
        the price plan asks for now and why (None: the time windows decide).
        """
        voltage = self.estimator.update(
            now, sample, idle=self.machine.memory.state is BatteryState.REST
        )
        self._count_energy(now, sample, voltage)
        soc = self.counter.soc
        transition = self.machine.step(
            now,
            now.astimezone(self.local_tz).time(),
            soc * 100 if soc is not None else None,
            voltage / self.settings.cells_in_series if voltage is not None else None,
            self.counter.state.uncertainty * 100,
            reserve=reserve_soc,
            plan=plan,
        )
        self._status = self._make_status(now, transition, reserve_soc)
        return self._status

    def _count_energy(
        self, now: datetime, sample: BatterySample, voltage: float | None
    ) -> None:
        """Count the sample's power: measured, else the plausible voltage x current."""
        power = sample.power_w if is_finite(sample.power_w) else None
        if power is None and voltage is not None and is_finite(sample.current_a):
            assert sample.current_a is not None
            power = voltage * sample.current_a
        if power is None:
            self.energy.interrupt()
        else:
            self.energy.add(now.timestamp(), power)

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
        if not (is_finite(soc_percent) and 0 <= soc_percent <= 100):
            raise ValueError(f"a state of charge is 0..100 %, not {soc_percent}")
        self.counter.calibrate(soc_percent / 100)
        self._status = self._make_status(now, None, self._status.reserve_soc)

    def apply_settings(self, settings: BatteryManagerSettings) -> None:
        """Change settings in place, keeping the count and the state."""
        settings.validate()
        self.settings = settings
        self.estimator.settings = settings
        self.counter.limits = counter_limits(settings)
        self.machine.limits = _state_limits(settings)

    def snapshot(self) -> dict[str, Any]:
        """Return everything needed to resume, as JSON-able data."""
        return {
            "version": SNAPSHOT_VERSION,
            "counter": self.counter.snapshot(),
            "machine": self.machine.snapshot(),
            "energy": self.energy.snapshot(),
        }

    def _make_status(
        self,
        now: datetime,
        transition: Transition | None,
        reserve_soc: float | None = None,
    ) -> BatteryStatus:
        """Assemble the status from the counter and the machine.

        Its figures are rounded to what a battery's are worth (0.1 %,
        0.01 Ah); the counter keeps counting at full precision.
        """
        counter = self.counter.state
        memory = self.machine.memory
        return BatteryStatus(
            now=now,
            soc=rounded(counter.soc * 100, PERCENT_DECIMALS)
            if counter.soc is not None
            else None,
            soc_uncertainty=rounded(counter.uncertainty * 100, PERCENT_DECIMALS)
            if counter.soc is not None
            else None,
            soc_source=counter.source,
            ah_charged=rounded(counter.ah_charged, AMPERE_HOUR_DECIMALS),
            ah_discharged=rounded(counter.ah_discharged, AMPERE_HOUR_DECIMALS),
            energy_charged_wh=rounded(self.energy.charged_wh, WATT_HOUR_DECIMALS),
            energy_discharged_wh=rounded(self.energy.discharged_wh, WATT_HOUR_DECIMALS),
            coulombic_efficiency=rounded(counter.efficiency, RATIO_DECIMALS),
            learned_capacity_ah=rounded(counter.capacity_ah, AMPERE_HOUR_DECIMALS),
            learned_capacity_uncertainty_ah=rounded(
                counter.capacity_uncertainty_ah, AMPERE_HOUR_DECIMALS
            ),
            state_of_health=rounded(self.counter.state_of_health, PERCENT_DECIMALS),
            current_offset_a=counter.offset_a,
            state=memory.state,
            state_since=memory.since,
            reason=memory.reason,
            detail=memory.detail,
            mode=memory.mode,
            mode_until=memory.mode_until,
            rejected_samples=dict(counter.rejected),
            transition=transition,
            reserve_soc=rounded(reserve_soc, PERCENT_DECIMALS)
            if reserve_soc is not None
            else None,
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
