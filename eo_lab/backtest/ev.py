"""``eo backtest-ev``: solar into the car, against the evcc-like baseline.

A measured load/PV profile is replayed on a 1-minute grid with a car at home
between ``--arrive`` and ``--depart`` every day (clock times in the zone the
profile's timestamps carry, UTC when they carry none), needing
``--need-kwh`` by departure. The site has a 10 kWh / 5 kW house battery in
self-consumption (PV serves the house, then the car, then the battery; the
battery serves the house, and the car only where a strategy lets it, never
below 30 %). The wallbox takes 6 A up to ``--max-current`` on one or three
phases; the car follows its command from the next minute on.

- ``evcc-like``: evcc's documented PV mode and defaults: charge when the
  surplus reaches the one-phase minimum for a minute, stop when it has been
  below for three; switch to three phases when the surplus reaches the
  three-phase minimum for a minute, back to one when it has been below for
  three; the house battery charges before the car (evcc's "priority SOC"
  with the battery below it, as most of the time) and does not feed it; a
  plan charges at full power as late as still meets the target. The
  charger is off when the car leaves, and the delays run again when it
  comes back.
- ``orchestrator``: ``EvChargingManager`` in deadline mode with the house
  battery allowed down to its floor.

Figures per strategy: ``solar_kwh_to_ev``, ``battery_kwh_to_ev``,
``grid_kwh_to_ev``, ``delivered_kwh``, ``target_met_days``,
``phase_switches``, ``start_stops``. The energy of every minute balances.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
import math
from typing import Any

from custom_components.energy_orchestrator.lib.control.ev_charging import (
    ChargeMode,
    EvChargingManager,
    EvCommand,
    EvInputs,
    WallboxLimits,
)
from eo_lab.backtest.profile import Series, read_profile, scored_window
from eo_lab.backtest.report import scored_line

STEP = timedelta(minutes=1)
HOUSE_BATTERY_WH = 10_000.0
HOUSE_BATTERY_W = 5_000.0
HOUSE_BATTERY_FLOOR = 30.0
HOUSE_BATTERY_EFFICIENCY = 0.95
STRATEGIES = ("evcc-like", "orchestrator")


@dataclass
class _Site:
    """The house battery and the energy books of one strategy."""

    battery_wh: float = HOUSE_BATTERY_WH * 0.5
    solar_wh: float = 0.0
    battery_to_ev_wh: float = 0.0
    grid_to_ev_wh: float = 0.0
    delivered_wh: float = 0.0
    target_met_days: int = 0
    phase_switches: int = 0
    start_stops: int = 0
    session_wh: float = 0.0
    last_battery_w: float = 0.0
    last_grid_w: float = 0.0
    days: list[float] = field(default_factory=list)

    @property
    def soc(self) -> float:
        """Return the house battery's SOC in %."""
        return 100 * self.battery_wh / HOUSE_BATTERY_WH

    def dispatch(
        self,
        load: float,
        pv: float,
        ev: float,
        battery_feeds_ev: bool,
        ev_before_battery: bool,
    ) -> None:
        """Run one minute: PV, then the battery, then the grid; book the car's sources."""
        hours = STEP.total_seconds() / 3600
        surplus = pv - load
        if ev_before_battery:
            solar_ev = min(ev, max(surplus, 0.0))
            spare = max(surplus, 0.0) - solar_ev
            charge = min(
                spare,
                HOUSE_BATTERY_W,
                (HOUSE_BATTERY_WH - self.battery_wh) / HOUSE_BATTERY_EFFICIENCY / hours,
            )
        else:
            charge = min(
                max(surplus, 0.0),
                HOUSE_BATTERY_W,
                (HOUSE_BATTERY_WH - self.battery_wh) / HOUSE_BATTERY_EFFICIENCY / hours,
            )
            solar_ev = min(ev, max(surplus, 0.0) - charge)
        house_gap = max(-surplus, 0.0)
        floor_wh = HOUSE_BATTERY_WH * HOUSE_BATTERY_FLOOR / 100
        can_give = max(self.battery_wh - 0.0, 0.0) * HOUSE_BATTERY_EFFICIENCY / hours
        discharge_house = min(house_gap, HOUSE_BATTERY_W, can_give)
        ev_gap = ev - solar_ev
        discharge_ev = 0.0
        if battery_feeds_ev and ev_gap > 0 and self.battery_wh > floor_wh:
            room = (
                self.battery_wh - floor_wh
            ) * HOUSE_BATTERY_EFFICIENCY / hours - discharge_house
            discharge_ev = max(
                min(ev_gap, HOUSE_BATTERY_W - discharge_house, room), 0.0
            )
        grid_ev = ev_gap - discharge_ev
        grid = load - pv + ev + charge - discharge_house - discharge_ev
        balance = load + ev + charge - (pv + discharge_house + discharge_ev + grid)
        if abs(balance) > 1e-6:
            raise AssertionError("energy does not balance")
        self.battery_wh += charge * hours * HOUSE_BATTERY_EFFICIENCY
        self.battery_wh -= (
            (discharge_house + discharge_ev) * hours / HOUSE_BATTERY_EFFICIENCY
        )
        self.solar_wh += solar_ev * hours
        self.battery_to_ev_wh += discharge_ev * hours
        self.grid_to_ev_wh += grid_ev * hours
        self.delivered_wh += ev * hours
        self.session_wh += ev * hours
        self.last_battery_w = charge - discharge_house - discharge_ev
        self.last_grid_w = grid

    def figures(self) -> dict[str, Any]:
        """Return the figures of the benchmarks' table (docs/benchmarks.md)."""
        return {
            "solar_kwh_to_ev": round(self.solar_wh / 1000, 2),
            "battery_kwh_to_ev": round(self.battery_to_ev_wh / 1000, 2),
            "grid_kwh_to_ev": round(self.grid_to_ev_wh / 1000, 2),
            "delivered_kwh": round(self.delivered_wh / 1000, 2),
            "target_met_days": self.target_met_days,
            "phase_switches": self.phase_switches,
            "start_stops": self.start_stops,
        }


class _EvccLike:
    """evcc's PV mode with its default delays, and its charging plan."""

    def __init__(self, limits: WallboxLimits) -> None:
        """Start off, on one phase."""
        self.limits = limits
        self.enabled = False
        self.phases = 1
        self.above_since: datetime | None = None
        self.below_since: datetime | None = None
        self.up_since: datetime | None = None
        self.down_since: datetime | None = None
        self.phase_switches = 0
        self.start_stops = 0

    def disconnect(self) -> None:
        """Turn charging off as the car leaves; the timers start again at its return."""
        self.enabled = False
        self.above_since = self.below_since = None
        self.up_since = self.down_since = None

    def decide(
        self, now: datetime, surplus: float, plan_start: datetime | None
    ) -> EvCommand:
        """Return the command for the next minute."""
        limits = self.limits
        one_min, three_min = limits.min_power_w(1), limits.min_power_w(3)
        if plan_start is not None and now >= plan_start:
            if self.phases != 3 and limits.can_switch_phases:
                self.phases = 3
                self.phase_switches += 1
            if not self.enabled:
                self.start_stops += 1
            self.enabled = True
            return EvCommand(True, limits.max_current_a, self.phases)
        delay_up, delay_down = timedelta(minutes=1), timedelta(minutes=3)
        self.up_since = (self.up_since or now) if surplus >= three_min else None
        self.down_since = (self.down_since or now) if surplus < three_min else None
        if limits.can_switch_phases:
            if self.phases == 1 and self.up_since and now - self.up_since >= delay_up:
                self.phases = 3
                self.phase_switches += 1
            elif (
                self.phases == 3
                and self.down_since
                and now - self.down_since >= delay_down
            ):
                self.phases = 1
                self.phase_switches += 1
        self.above_since = (self.above_since or now) if surplus >= one_min else None
        self.below_since = (self.below_since or now) if surplus < one_min else None
        if not self.enabled and self.above_since and now - self.above_since >= delay_up:
            self.enabled = True
            self.start_stops += 1
        elif self.enabled and self.below_since and now - self.below_since >= delay_down:
            self.enabled = False
        if not self.enabled:
            return EvCommand(False, 0.0, self.phases)
        amps = math.floor(surplus / (limits.voltage_v * self.phases))
        return EvCommand(
            True,
            float(min(max(amps, limits.min_current_a), limits.max_current_a)),
            self.phases,
        )


def _present(moment: datetime, arrive: time, depart: time, zone: tzinfo) -> bool:
    """Return whether the car is home at a moment."""
    local = moment.astimezone(zone).time()
    if arrive <= depart:
        return arrive <= local < depart
    return local >= arrive or local < depart


def _departure(moment: datetime, depart: time, zone: tzinfo) -> datetime:
    """Return the next departure after a moment."""
    local = moment.astimezone(zone)
    leave = local.replace(
        hour=depart.hour, minute=depart.minute, second=0, microsecond=0
    )
    if leave <= local:
        leave += timedelta(days=1)
    return leave


def run_backtest_ev(
    series: Series,
    *,
    arrive: time,
    depart: time,
    need_kwh: float,
    max_current_a: float = 16.0,
    zone: tzinfo,
) -> dict[str, Any]:
    """Run both strategies; return ``scored_from``, ``scored_to`` and ``strategies``.

    The car's backtest has no warm-up: the whole series is scored.
    """
    limits = WallboxLimits(max_current_a=max_current_a)
    limits.validate()
    if not 0 < need_kwh <= 200:
        raise ValueError("--need-kwh must be 0-200 kWh")
    minute = _resample(series)
    return {
        **scored_window(series),
        "strategies": {
            "evcc-like": _run(
                minute,
                limits=limits,
                arrive=arrive,
                depart=depart,
                need_wh=need_kwh * 1000,
                zone=zone,
                evcc=_EvccLike(limits),
            ),
            "orchestrator": _run(
                minute,
                limits=limits,
                arrive=arrive,
                depart=depart,
                need_wh=need_kwh * 1000,
                zone=zone,
                evcc=None,
            ),
        },
    }


def _resample(series: Series) -> Series:
    """Hold each of the series' steps for its minutes."""
    per = max(int(series.step / STEP), 1)
    load = [value for value in series.load_w for _ in range(per)]
    pv = [value for value in series.pv_w for _ in range(per)]
    return Series(series.start, STEP, load, pv)


def _run(
    series: Series,
    *,
    limits: WallboxLimits,
    arrive: time,
    depart: time,
    need_wh: float,
    zone: tzinfo,
    evcc: _EvccLike | None,
) -> dict[str, Any]:
    """Replay the profile with one strategy."""
    site = _Site()
    manager = EvChargingManager(limits, now=series.start)
    ev_power = 0.0
    was_home = False
    deadline: datetime | None = None
    for index, (load, pv) in enumerate(zip(series.load_w, series.pv_w, strict=True)):
        now = series.start + index * STEP
        home = _present(now, arrive, depart, zone)
        if home and not was_home:
            site.session_wh = 0.0
            deadline = _departure(now, depart, zone)
            if evcc is None:
                manager.stop(now)
                manager.start(
                    now,
                    ChargeMode.DEADLINE,
                    target_energy_wh=need_wh,
                    deadline=deadline,
                )
        if was_home and not home:
            if site.session_wh >= need_wh - 1:
                site.target_met_days += 1
            if evcc is None:
                manager.stop(now)
            else:
                evcc.disconnect()
            ev_power = 0.0
        was_home = home
        if not home:
            site.dispatch(
                load, pv, 0.0, battery_feeds_ev=False, ev_before_battery=evcc is None
            )
            continue
        done = site.session_wh >= need_wh
        if evcc is not None:
            plan_start = None
            if deadline is not None and not done:
                missing = need_wh - site.session_wh
                plan_start = (
                    deadline
                    - timedelta(hours=missing / limits.max_power_w(3))
                    - timedelta(minutes=15)
                )
            # What evcc sees: the export plus what the car takes, after the
            # house battery (which charges first).
            surplus = -site.last_grid_w + ev_power
            command = (
                evcc.decide(now, surplus, plan_start)
                if not done
                else EvCommand(False, 0.0, evcc.phases)
            )
        else:
            status = manager.update(
                now,
                EvInputs(
                    grid_power_w=site.last_grid_w,
                    ev_power_w=ev_power,
                    battery_power_w=site.last_battery_w,
                    battery_soc=site.soc,
                    battery_floor_soc=HOUSE_BATTERY_FLOOR,
                    battery_max_discharge_w=HOUSE_BATTERY_W,
                ),
            )
            command = (
                status.command
                if not done
                else EvCommand(False, 0.0, status.phases_in_use)
            )
        ev_power = (
            command.current_a * limits.voltage_v * command.phases
            if command.enable
            else 0.0
        )
        if done:
            ev_power = 0.0
        site.dispatch(
            load,
            pv,
            ev_power,
            battery_feeds_ev=evcc is None,
            ev_before_battery=evcc is None,
        )
    if evcc is not None:
        site.phase_switches, site.start_stops = evcc.phase_switches, evcc.start_stops
    else:
        site.phase_switches = manager.memory.phase_switches
        site.start_stops = manager.memory.start_stops
    return site.figures()


def format_backtest_ev(result: dict[str, Any]) -> str:
    """Return the scored window and the figures as a table."""
    names = list(result["strategies"])
    figures = list(next(iter(result["strategies"].values())))
    lines = [
        scored_line(result),
        f"{'':20}" + "".join(f"{name:>14}" for name in names),
    ]
    for figure in figures:
        lines.append(
            f"{figure:20}"
            + "".join(f"{result['strategies'][name][figure]:>14}" for name in names)
        )
    return "\n".join(lines)


def profile_zone(first_time: str) -> tzinfo:
    """Return the zone a profile's timestamps carry (UTC when none, or seconds)."""
    try:
        float(first_time)
    except ValueError:
        moment = datetime.fromisoformat(first_time.strip())
        return moment.tzinfo or UTC
    return UTC


__all__ = ["format_backtest_ev", "profile_zone", "read_profile", "run_backtest_ev"]
