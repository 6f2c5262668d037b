"""The car and the grid's limit of ``eo backtest-site``.

SITE.json::

    {"car": {"arrive": "17:00", "depart": "07:30", "need_kwh": 10,
             "max_current_a": 16, "phases": [1, 3]},
     "grid": {"import_limit_w": 12000}}

A car arrives every day at ``arrive`` and leaves at ``depart`` (the next
day when earlier) needing ``need_kwh``; ``phases`` lists what the wallbox
can charge on (230 V a phase, 6 A at least). In the replay the car is one
more load, ``car``, adjustable up to its full power over its window, so the
replay's bookkeeping (a window's need, what it got) serves it; each strategy
decides its power (see ``eo_lab.backtest.site``). The grid's import limit
counts the steps above it (``limit_violations``); the profiles have no
per-phase columns, so the limit is the site's import alone.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
import math
from typing import Any

from custom_components.energy_orchestrator.lib.control.ev_charging import (
    ChargeMode,
    EvChargingManager,
    EvInputs,
    PhaseChoice,
    WallboxLimits,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads import (
    FlexibleLoad,
    LoadControl,
    LoadError,
    parse_minutes,
)

CAR = "car"
VOLTAGE_V = 230.0
MIN_CURRENT_A = 6.0


class CarError(ValueError):
    """A car or grid entry that cannot be used; the message says why."""


@dataclass(frozen=True)
class CarSpec:
    """The daily car session and the wallbox."""

    arrive_min: int
    depart_min: int
    need_wh: float
    max_current_a: float
    phases: tuple[int, ...]

    @property
    def max_power_w(self) -> float:
        """Return the most the wallbox gives (its most phases at full current)."""
        return max(self.phases) * VOLTAGE_V * self.max_current_a

    def min_power_w(self) -> float:
        """Return the least the car takes while charging (its fewest phases at 6 A)."""
        return min(self.phases) * VOLTAGE_V * MIN_CURRENT_A

    def as_load(self) -> FlexibleLoad:
        """Return the car as a load: adjustable up to its power over its window."""
        return FlexibleLoad(
            name=CAR,
            power_w=self.max_power_w,
            energy_wh_per_day=self.need_wh,
            window_start_min=self.arrive_min,
            window_end_min=self.depart_min or 1440,
            control=LoadControl.ADJUSTABLE,
        )

    def limits(self) -> WallboxLimits:
        """Return the wallbox as the wallbox manager sees it."""
        return WallboxLimits(
            min_current_a=MIN_CURRENT_A,
            max_current_a=self.max_current_a,
            voltage_v=VOLTAGE_V,
            can_switch_phases=len(self.phases) > 1,
        )

    def phase_choice(self) -> PhaseChoice:
        """Return the phases the manager may use."""
        if len(self.phases) > 1:
            return PhaseChoice.AUTO
        return PhaseChoice.ONE if self.phases[0] == 1 else PhaseChoice.THREE


@dataclass(frozen=True)
class GridSpec:
    """The grid connection's import limit."""

    import_limit_w: float


def read_car(data: Any) -> CarSpec | None:
    """Return the car of SITE.json, None without one."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise CarError("car is an object")
    try:
        arrive = parse_minutes(str(data["arrive"])) % 1440
        depart = parse_minutes(str(data["depart"])) % 1440
    except KeyError as err:
        raise CarError(f"car needs {err.args[0]!r}") from None
    except LoadError as err:
        raise CarError(f"car: {err}") from None
    if arrive == depart:
        raise CarError("car: arrive and depart are the same time")
    need = _number(data, "need_kwh") * 1000
    current = _number(data, "max_current_a", default=16)
    phases = data.get("phases", [1, 3])
    if (
        not isinstance(phases, list)
        or not phases
        or not set(phases) <= {1, 3}
        or len(set(phases)) != len(phases)
    ):
        raise CarError("car: phases lists 1, 3 or both")
    if need <= 0:
        raise CarError("car: need_kwh must be above 0")
    if not MIN_CURRENT_A <= current <= 80:
        raise CarError("car: max_current_a must be 6-80 A")
    car = CarSpec(arrive, depart, need, current, tuple(sorted(phases)))
    car.as_load()  # refuses a need that does not fit the window at full power
    return car


def read_grid(data: Any) -> GridSpec | None:
    """Return the grid's import limit, None without one."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise CarError("grid is an object")
    if "phase_limit_a" in data:
        raise CarError(
            "grid: phase_limit_a needs a profile with phases; the profiles have none"
        )
    limit = _number(data, "import_limit_w", "grid")
    if limit <= 0:
        raise CarError("grid: import_limit_w must be above 0")
    return GridSpec(limit)


def _number(
    data: dict[str, Any], key: str, entry: str = "car", default: float | None = None
) -> float:
    """Return a finite number from ``data`` (``entry`` names it in errors)."""
    value = data.get(key, default)
    if value is None:
        raise CarError(f"{entry} needs {key!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CarError(f"{entry}: {key} is a number, not {value!r}")
    if not math.isfinite(value):
        raise CarError(f"{entry}: {key} is a finite number")
    return float(value)


@dataclass(frozen=True)
class CarSeen:
    """What a car's charger sees at the start of a step."""

    moment: datetime
    # The open session (its departure) and what it still needs; None when away.
    departs: datetime | None
    remaining_wh: float
    # Last step's meter, car and battery (> 0 charging).
    grid_w: float
    car_w: float
    battery_w: float


class DeadlineCharger:
    """The wallbox manager in ``deadline`` mode, as Home Assistant runs it alone.

    ``EvChargingManager`` itself, stepped with the replay's clock: it is
    started at each arrival with the need and the departure, follows the
    sun, and begins its final stretch at the latest moment that still
    meets the need at the wallbox's full power. It knows nothing of the
    billed peak or the grid's limit.
    """

    def __init__(self, car: CarSpec, now: datetime) -> None:
        """Make the manager."""
        self.car = car
        self.manager = EvChargingManager(car.limits(), now=now)
        self.manager.set_phases(now, car.phase_choice())
        self.session: datetime | None = None

    def decide(self, seen: CarSeen) -> float:
        """Return the car's power for the step."""
        manager = self.manager
        if seen.departs is None:
            if self.session is not None:
                manager.stop(seen.moment)
                self.session = None
            return 0.0
        if self.session != seen.departs:
            self.session = seen.departs
            manager.stop(seen.moment)
            manager.start(
                seen.moment, ChargeMode.DEADLINE, seen.remaining_wh, seen.departs
            )
        status = manager.update(
            seen.moment,
            EvInputs(
                grid_power_w=seen.grid_w,
                ev_power_w=seen.car_w,
                battery_power_w=seen.battery_w,
            ),
        )
        command = status.command
        if not command.enable:
            return 0.0
        return command.current_a * command.phases * VOLTAGE_V


# The orchestrator charges at the grid's pace once holding off one more step
# would leave less time than the need takes at the power the limit leaves.
FORCE_MARGIN = timedelta(minutes=15)
# The plan asks a tenth more than the need: forecasts of the night run low.
NEED_SPARE = 1.1


class BudgetCharger:
    """The car as the orchestrator charges it: deadline mode within the site caps.

    A re-implementation of the wallbox manager's ``deadline`` mode (the
    manager has no site caps to take yet), planned with the orchestrator's
    forecast of the site's import (load less PV, the past days' means):

    - each step the charger finds the lowest import level that still
      delivers what the session needs (and a tenth more) by the departure
      (less 15 minutes) if the car fills the forecast up to that level
      wherever that gives it at least its minimum (``fill_level``): the
      valleys of the night and the sun first, the peak last;
    - it charges at the level less the import measured now (whole amps
      rounded down, nothing below the minimum), never above the grid's
      limit;
    - when holding off one more step would leave less time than the need
      takes at the power the limit leaves (the import now taken to last),
      the car charges at that power: the need comes before the billed peak,
      never before the limit.

    Whole amps, one phase below the three-phase minimum, three above.
    """

    def __init__(self, car: CarSpec, limit_w: float | None) -> None:
        """Keep the car and the limit."""
        self.car = car
        self.limit_w = math.inf if limit_w is None else limit_w

    def decide(
        self,
        seen: CarSeen,
        forecast_w: Sequence[float] | None,
        plan_step: timedelta,
        step: timedelta,
    ) -> float:
        """Return the car's power for the step (``forecast_w``: the import per plan step)."""
        if seen.departs is None or seen.remaining_wh <= 0:
            return 0.0
        car = self.car
        # The site without the car and the battery: what the forecast forecasts.
        base_w = seen.grid_w - seen.car_w - seen.battery_w
        hours_left = (seen.departs - seen.moment - FORCE_MARGIN) / timedelta(hours=1)
        step_h = step / timedelta(hours=1)
        under_limit = self.limit_w - base_w
        usable = min(car.max_power_w, max(under_limit, car.min_power_w()))
        if seen.remaining_wh > (hours_left - step_h) * usable:
            # As much as the limit leaves: amps rounded down.
            return self._whole_amps(usable, math.floor)
        steps = max(math.floor(hours_left / (plan_step / timedelta(hours=1))), 1)
        ahead = [base_w, *(forecast_w or [base_w] * steps)[1:steps]]
        level = min(
            fill_level(car, ahead, plan_step, seen.remaining_wh * NEED_SPARE),
            self.limit_w,
        )
        room = min(level - base_w, car.max_power_w)
        if room < car.min_power_w():
            return 0.0
        return self._whole_amps(room, math.floor)

    def _whole_amps(self, power: float, rounding: Callable[[float], int]) -> float:
        """Return the power of whole amps (``rounding``) on the phases that carry it."""
        car = self.car
        phases = (
            3
            if 3 in car.phases
            and (power > VOLTAGE_V * car.max_current_a or car.phases == (3,))
            else 1
        )
        amps = min(
            max(rounding(power / (VOLTAGE_V * phases)), MIN_CURRENT_A),
            car.max_current_a,
        )
        return amps * phases * VOLTAGE_V


def fill_level(
    car: CarSpec, imports_w: Sequence[float], step: timedelta, need_wh: float
) -> float:
    """Return the lowest import level the car can fill ``imports_w`` to for ``need_wh``.

    The car takes the level less the import in each step, up to its power,
    and nothing where that is below its minimum; the level is found by
    bisection (to a watt).
    """
    step_h = step / timedelta(hours=1)

    def energy(level: float) -> float:
        """Return what filling to ``level`` gives the car."""
        total = 0.0
        for imported in imports_w:
            room = level - imported
            if room >= car.min_power_w():
                total += min(room, car.max_power_w) * step_h
        return total

    low = min(imports_w, default=0.0)
    high = max(imports_w, default=0.0) + car.max_power_w
    if energy(high) < need_wh:
        return high
    while high - low > 1.0:
        middle = (low + high) / 2
        if energy(middle) >= need_wh:
            high = middle
        else:
            low = middle
    return high


def surplus_w(car: CarSpec, surplus: float) -> float:
    """Return the whole-amp power the car takes of a surplus (0 below its minimum)."""
    if surplus < car.min_power_w():
        return 0.0
    phases = 3 if 3 in car.phases and surplus >= 3 * VOLTAGE_V * MIN_CURRENT_A else 1
    if car.phases == (3,):
        phases = 3
    amps = min(math.floor(surplus / (VOLTAGE_V * phases)), car.max_current_a)
    return amps * phases * VOLTAGE_V if amps >= MIN_CURRENT_A else 0.0


def car_solar_w(pv_w: float, others_w: float, car_w: float) -> float:
    """Return the part of the car's power the sun gives: the PV the rest leaves.

    The rest is the measured load and the other loads; what a battery gives
    the car is not counted as sun.
    """
    return min(car_w, max(pv_w - others_w, 0.0))
