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

from dataclasses import dataclass
from datetime import datetime
import math
from typing import Any

from custom_components.energy_orchestrator.lib.control.ev_charging import (
    ChargeMode,
    EvChargingManager,
    EvInputs,
    PhaseChoice,
    WallboxLimits,
)
from custom_components.energy_orchestrator.lib.control.ev_deadline import RoomAhead
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


@dataclass(frozen=True)
class SiteRoom:
    """The site's limits as the wallbox manager is given them (see ``EvInputs``)."""

    peak_cap_w: float | None = None
    grid_cap_w: float | None = None
    room_ahead: RoomAhead | None = None


class DeadlineCharger:
    """The wallbox manager in ``deadline`` mode, as Home Assistant runs it.

    ``EvChargingManager`` itself, stepped with the replay's clock: it is
    started at each arrival with the need and the departure, follows the
    sun, and begins its final stretch at the latest moment that still
    meets the need. Without site caps (``independent``) that moment is the
    one full power needs; with them (``orchestrator``) the stretch is
    planned on the room they leave, and the deadline lifts the peak limit
    only by what it needs (``ev_deadline``).
    """

    def __init__(self, car: CarSpec, now: datetime) -> None:
        """Make the manager."""
        self.car = car
        self.manager = EvChargingManager(car.limits(), now=now)
        self.manager.set_phases(now, car.phase_choice())
        self.session: datetime | None = None

    def decide(self, seen: CarSeen, room: SiteRoom | None = None) -> float:
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
        room = room or SiteRoom()
        status = manager.update(
            seen.moment,
            EvInputs(
                grid_power_w=seen.grid_w,
                ev_power_w=seen.car_w,
                battery_power_w=seen.battery_w,
                peak_cap_w=room.peak_cap_w,
                grid_cap_w=room.grid_cap_w,
                room_ahead=room.room_ahead,
            ),
        )
        command = status.command
        if not command.enable:
            return 0.0
        return command.current_a * command.phases * VOLTAGE_V


def car_solar_w(pv_w: float, others_w: float, car_w: float) -> float:
    """Return the part of the car's power the sun gives: the PV the rest leaves.

    The rest is the measured load and the other loads; what a battery gives
    the car is not counted as sun.
    """
    return min(car_w, max(pv_w - others_w, 0.0))
