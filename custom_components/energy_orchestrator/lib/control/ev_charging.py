"""Charging a car from the sun: current, phases, sources, deadlines.

Surplus charging follows what the site would otherwise export (plus what
the car already takes, and what the house battery is charging with: the car
comes first), within the wallbox's minimum and maximum current, started and
stopped with delays so a cloud does not toggle the car.

Phases: one phase carries a car from ``V x Imin`` (1.4 kW at 6 A), three
phases from ``3 x V x Imin`` (4.1 kW). The switch up needs the surplus above
the three-phase minimum plus a margin for the up delay; the switch down
needs it below that minimum for the down delay; and no two switches come
closer than ``min_phase_switch_interval``. Both thresholds hang on the
three-phase minimum alone, never on the one-phase maximum, so the band
between them exists whatever the wallbox's maximum current (the flaw of
controllers whose up threshold is the one-phase maximum: with 16 A it lies
below the three-phase minimum and the two thresholds cross). A switch is
the sequence wallboxes need: stop, wait for the current to fall, switch,
wait, resume; never while current flows.

Sources: solar first; in ``solar_battery`` the house battery next, down to
a floor the battery manager allows; the grid last. ``deadline`` mode
charges from the sun and starts charging at full power at the latest
moment that still delivers the target energy by the deadline (on the
phases in use when one phase still makes it): the house battery and the
grid cover that last stretch, which is the energy the sun could not give.
Within the site's limits (peak shaving's room under the billed peak, the
grid connection's limit) the stretch is planned on the room they leave
(``ev_deadline``): it begins earlier where the room is small, takes the
room, and lifts the peak limit only by what the deadline needs.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
import math
from typing import Any

from .arbitration import Decision, Layer, Proposal, arbitrate
from .ev_deadline import (
    DEADLINE_SPARE,
    Room,
    RoomAhead,
    Stretch,
    fill_lift,
    first_taken,
    plan_stretch,
    rooms,
)

# Delays of starting and stopping on the surplus, as evcc's defaults.
ENABLE_DELAY = timedelta(minutes=1)
DISABLE_DELAY = timedelta(minutes=3)
# Delays of switching phases up and down.
PHASE_UP_DELAY = timedelta(minutes=2)
PHASE_DOWN_DELAY = timedelta(minutes=5)
# The surplus must exceed the three-phase minimum by this share to switch up.
PHASE_UP_MARGIN = 0.1
# Below this, a car is taken not to draw current (for the switch sequence).
NO_CURRENT_W = 100.0
# A deadline is planned with this much time to spare.
DEADLINE_MARGIN = timedelta(minutes=15)
# The house battery feeds the car only this far above its floor (points).
BATTERY_FLOOR_BAND = 2.0
# A car the site's limits stopped stays off this long, and starts again
# only with this share to spare over its minimum: no start/stop every step
# while the limit hovers at the car's minimum.
SITE_LIMIT_HOLD = timedelta(minutes=5)
SITE_LIMIT_RESTART_MARGIN = 0.1


class ChargeMode(StrEnum):
    """How the car is charged."""

    OFF = "off"
    SOLAR = "solar"
    SOLAR_BATTERY = "solar_battery"
    FAST = "fast"
    DEADLINE = "deadline"


class PhaseChoice(StrEnum):
    """Which phases the user allows."""

    AUTO = "auto"
    ONE = "one"
    THREE = "three"


class ChargingReason(StrEnum):
    """Why the wallbox manager is in its state."""

    STARTED = "started"
    OFF = "off"
    NOT_CONNECTED = "not_connected"
    TARGET_REACHED = "target_reached"
    FAST = "fast"
    INPUTS_UNAVAILABLE = "inputs_unavailable"
    SURPLUS = "surplus"
    SURPLUS_TOO_SMALL = "surplus_too_small"
    SURPLUS_GONE = "surplus_gone"
    DEADLINE = "deadline"
    # The site's limits held the car back (or off): the billed peak peak
    # shaving defends, a phase's fuse.
    PEAK_LIMIT = "peak_limit"
    PHASE_LIMIT = "phase_limit"
    GRID_LIMIT = "grid_limit"
    # The stages of a phase switch: stop, switch, pause, resume.
    STOPPING = "stopping"
    PHASES = "phases"
    PAUSING = "pausing"
    RESUMED = "resumed"


@dataclass(frozen=True)
class PvRoute:
    """A configuration of reconfigurable PV (a fourth inverter, contactors).

    ``wallbox_phase_share`` is the share of the site's PV it puts on the
    wallbox's phase: a third when balanced, about two thirds in the user's
    bundled configuration.
    """

    name: str
    wallbox_phase_share: float


@dataclass(frozen=True)
class WallboxLimits:
    """The wallbox and the car as the manager sees them."""

    min_current_a: float = 6.0
    max_current_a: float = 16.0
    voltage_v: float = 230.0
    can_switch_phases: bool = True
    min_phase_switch_interval: timedelta = timedelta(minutes=10)
    switch_pause: timedelta = timedelta(seconds=30)
    # The site's PV configurations; none when its PV cannot be rerouted.
    pv_routes: tuple[PvRoute, ...] = ()

    def route_for(self, phases: int) -> str | None:
        """Return the PV configuration for charging on ``phases`` phases.

        On one phase, the one that puts the most PV on the wallbox's phase;
        on three (or not charging), the most even one.
        """
        if not self.pv_routes:
            return None
        if phases == 1:
            return max(self.pv_routes, key=lambda r: r.wallbox_phase_share).name
        return min(
            self.pv_routes, key=lambda r: abs(r.wallbox_phase_share - 1 / 3)
        ).name

    def validate(self) -> None:
        """Raise ValueError for a wallbox that cannot exist."""
        if not 0 < self.min_current_a <= self.max_current_a <= 80:
            raise ValueError("currents must satisfy 0 < minimum <= maximum <= 80 A")
        if not 100 <= self.voltage_v <= 260:
            raise ValueError("the phase voltage must be 100-260 V")
        if any(not 0 < r.wallbox_phase_share <= 1 for r in self.pv_routes):
            raise ValueError("a PV route's share on the wallbox phase is 0-1")

    def min_power_w(self, phases: int) -> float:
        """Return the least power the car takes on ``phases`` phases."""
        return phases * self.voltage_v * self.min_current_a

    def max_power_w(self, phases: int) -> float:
        """Return the most power the car takes on ``phases`` phases."""
        return phases * self.voltage_v * self.max_current_a


@dataclass(frozen=True)
class EvInputs:
    """What the site measures now; None where unknown."""

    grid_power_w: float | None
    ev_power_w: float | None
    connected: bool | None = True
    battery_power_w: float | None = None  # > 0 charging
    battery_soc: float | None = None
    battery_floor_soc: float | None = None
    battery_max_discharge_w: float = 0.0
    # The site's limits, where peak shaving computes them (None: no limit):
    # the most the car may take without raising the billed peak, and the
    # most current per phase the busiest phase's fuse leaves it.
    peak_cap_w: float | None = None
    phase_cap_a: float | None = None
    # The most the car may take under the grid connection's import limit
    # (safety, W), and the room a site plan forecasts (deadline mode).
    grid_cap_w: float | None = None
    room_ahead: RoomAhead | None = None
    # The peak limit raises its level by the lift the car charges with
    # (``EvStatus.peak_lift_w``, posted to peak shaving in Home Assistant):
    # its billing interval's budget then leaves the lift in the room now.
    peak_lift_held: bool = False


def room_at(ahead: RoomAhead | None, now: datetime) -> float | None:
    """Return the forecast's room under the billed peak now, None outside it."""
    if ahead is None:
        return None
    index = math.floor((now - ahead.start) / ahead.step)
    return ahead.peak_w[index] if 0 <= index < len(ahead.peak_w) else None


def within_forecast(now: datetime, inputs: EvInputs) -> EvInputs:
    """Return the inputs with the grid's cap no higher than the forecast's for now.

    A rise of the house the site plan expects in the step that begins holds
    the car back under the grid's limit (safety) from its start, not a step
    late. The peak's cap stays the measured one: the forecast's errors would
    hold the car off room that is there.
    """
    ahead = inputs.room_ahead
    if ahead is None:
        return inputs
    index = math.floor((now - ahead.start) / ahead.step)
    if not 0 <= index < len(ahead.peak_w):
        return inputs
    grid = inputs.grid_cap_w
    if grid is None or ahead.grid_w is None:
        return inputs
    return replace(inputs, grid_cap_w=min(grid, ahead.grid_w[index]))


def site_caps(
    *,
    ev_power_w: float | None,
    phases: int,
    voltage_v: float,
    grid_headroom_w: float | None,
    phase_headroom_w: float | None,
) -> tuple[float | None, float | None]:
    """Return the car's caps (W; A per phase) from the room a peak shaver left.

    The room was measured with the car taking what it takes: the cap is
    that plus the room (None where the room is unknown).
    """
    taking = max(ev_power_w or 0.0, 0.0)
    peak_cap = None if grid_headroom_w is None else taking + grid_headroom_w
    phase_cap = None
    if phase_headroom_w is not None:
        phase_cap = taking / (voltage_v * phases) + phase_headroom_w / voltage_v
    return peak_cap, phase_cap


@dataclass(frozen=True)
class EvCommand:
    """What the wallbox is to do."""

    enable: bool
    current_a: float
    phases: int
    # The PV configuration to switch to (None: the site has no routing).
    pv_route: str | None = None


@dataclass(frozen=True)
class EvStatus:
    """What the manager shows after a step."""

    command: EvCommand
    mode: ChargeMode
    state: str
    reason: ChargingReason
    phases_in_use: int
    available_w: float | None
    session_energy_wh: float
    solar_energy_wh: float
    battery_energy_wh: float
    grid_energy_wh: float
    phase_switches: int
    start_stops: int
    deadline_start: datetime | None = None
    # How far a deadline lifts the billed peak to charge this step (W): what
    # the car takes above the room under the peak limit for a need it cannot
    # hold.
    peak_lift_w: float = 0.0

    @property
    def solar_share(self) -> float | None:
        """Return the share of the session's energy that came from the sun."""
        if self.session_energy_wh <= 0:
            return None
        return self.solar_energy_wh / self.session_energy_wh


@dataclass(frozen=True)
class DeadlineNeed:
    """A deadline session's remaining need, its deadline and the car's most power."""

    energy_wh: float
    deadline: datetime
    max_power_w: float


@dataclass
class _Memory:
    """What the manager keeps between steps (and across restarts)."""

    mode: ChargeMode = ChargeMode.OFF
    phase_choice: PhaseChoice = PhaseChoice.AUTO
    target_energy_wh: float | None = None
    deadline: datetime | None = None
    # The user asked this session to go through the peak limit.
    above_peak_limit: bool = False
    # Since when, and why, the site's limits keep the car off.
    site_held_since: datetime | None = None
    site_held_by: ChargingReason | None = None
    # A deadline's stretch planned on the site's room: once begun it runs to
    # the end (no stop when the room grows); its planned start.
    in_stretch: bool = False
    stretch_start: datetime | None = None
    enabled: bool = False
    phases: int = 1
    last_switch: datetime | None = None
    # The pending switch: target phases and when its stage began.
    switch_to: int | None = None
    switch_stage: str | None = None
    switch_since: datetime | None = None
    # Since when the surplus has been above (or below) a threshold.
    above_since: datetime | None = None
    below_since: datetime | None = None
    up_since: datetime | None = None
    down_since: datetime | None = None
    session_wh: float = 0.0
    solar_wh: float = 0.0
    battery_wh: float = 0.0
    grid_wh: float = 0.0
    phase_switches: int = 0
    start_stops: int = 0
    last_time: datetime | None = None


class EvChargingManager:
    """Decides the wallbox's enable, current and phases. See the module doc."""

    def __init__(
        self,
        limits: WallboxLimits,
        *,
        now: datetime,
        saved: dict[str, Any] | None = None,
    ) -> None:
        """Start off, or resume a session from ``saved``."""
        limits.validate()
        self.limits = limits
        # One phase until known otherwise: the start that follows needs no switch.
        self.memory = _Memory(phases=1)
        self._peak_lift_w = 0.0
        if saved is not None:
            self._restore(saved)
        self._status = self._make_status(None, "idle", ChargingReason.STARTED, None)

    # --- the user's requests ---------------------------------------------

    def start(
        self,
        now: datetime,
        mode: ChargeMode,
        target_energy_wh: float | None = None,
        deadline: datetime | None = None,
        *,
        above_peak_limit: bool = False,
    ) -> None:
        """Start a session (the "charge now" button, an action).

        ``above_peak_limit``: this session may raise the billed peak (never
        a phase's fuse).
        """
        if mode is ChargeMode.DEADLINE and (
            target_energy_wh is None or deadline is None
        ):
            raise ValueError("deadline mode needs a target energy and a deadline")
        if target_energy_wh is not None and not (
            math.isfinite(target_energy_wh) and 0 < target_energy_wh <= 500_000
        ):
            raise ValueError("the target energy must be 0-500 kWh")
        if deadline is not None and deadline <= now:
            raise ValueError("the deadline is in the past")
        memory = self.memory
        if memory.mode is ChargeMode.OFF:
            memory.session_wh = memory.solar_wh = memory.battery_wh = memory.grid_wh = (
                0.0
            )
        memory.mode = mode
        memory.target_energy_wh = target_energy_wh
        memory.deadline = deadline
        memory.above_peak_limit = above_peak_limit
        memory.site_held_since = memory.site_held_by = None
        memory.in_stretch, memory.stretch_start = False, None

    def stop(self, now: datetime) -> None:
        """End charging; the session's figures stay until the next start."""
        self.memory.mode = ChargeMode.OFF

    def set_phases(self, now: datetime, choice: PhaseChoice) -> None:
        """Force one or three phases, or let the manager choose."""
        if choice is PhaseChoice.THREE and not self.limits.can_switch_phases:
            raise ValueError("this wallbox cannot switch phases")
        self.memory.phase_choice = choice

    def deadline_need(self, now: datetime) -> DeadlineNeed | None:
        """Return what a deadline session still needs by when, None without one.

        For a site plan to place (the battery and the billed peak planned
        with the car's night); the manager still decides the car's power.
        """
        memory = self.memory
        if (
            memory.mode is not ChargeMode.DEADLINE
            or memory.deadline is None
            or memory.deadline <= now
        ):
            return None
        missing = self._missing_wh()
        if missing <= 0:
            return None
        return DeadlineNeed(
            missing, memory.deadline, self.limits.max_power_w(self._forced_phases(3))
        )

    # --- stepping ----------------------------------------------------------

    @property
    def status(self) -> EvStatus:
        """Return the status of the last step."""
        return self._status

    def update(self, now: datetime, inputs: EvInputs) -> EvStatus:
        """Decide for the next step and book the last one's energy."""
        memory = self.memory
        self._book(now, inputs)
        self._peak_lift_w = 0.0
        inputs = within_forecast(now, inputs)
        if memory.mode is ChargeMode.OFF or inputs.connected is False:
            reason = (
                ChargingReason.OFF
                if memory.mode is ChargeMode.OFF
                else ChargingReason.NOT_CONNECTED
            )
            return self._hold(
                now, enable=False, state="idle", reason=reason, available=None
            )
        if memory.switch_stage is not None:
            return self._continue_switch(now, inputs)
        target = memory.target_energy_wh
        if target is not None and memory.session_wh >= target:
            return self._hold(
                now,
                enable=False,
                state="complete",
                reason=ChargingReason.TARGET_REACHED,
            )
        if memory.mode is ChargeMode.FAST:
            return self._charge_at(
                now,
                inputs,
                current=self.limits.max_current_a,
                phases=self._forced_phases(3),
                reason=ChargingReason.FAST,
                available=None,
            )
        if memory.mode is ChargeMode.DEADLINE:
            if self._capped(inputs) and self._fills_valleys(inputs):
                filled = self._fill_valleys(now, inputs)
                if filled is not None:
                    return filled
            elif self._capped(inputs):
                stretch = self._plan_stretch(now, inputs)
                if stretch is not None and (memory.in_stretch or now >= stretch.start):
                    memory.in_stretch = True
                    return self._capped_stretch(now, inputs, stretch.raise_w)
            else:
                memory.stretch_start = None
                latest = self._deadline_start(now)
                if latest is not None and now >= latest:
                    return self._final_stretch(now, inputs)
        available = self._available(inputs)
        if available is None:
            return self._hold(
                now,
                enable=memory.enabled,
                state="waiting",
                reason=ChargingReason.INPUTS_UNAVAILABLE,
                available=None,
            )
        return self._follow_surplus(now, available, inputs)

    def _available(self, inputs: EvInputs) -> float | None:
        """Return the power the car may take now without importing."""
        if inputs.grid_power_w is None or inputs.ev_power_w is None:
            return None
        available = -inputs.grid_power_w + inputs.ev_power_w
        if inputs.battery_power_w is not None:
            # The car before the house battery: what the battery charges
            # with is the car's to take. What it discharges is not sun: a
            # battery in self-consumption covers a car that takes more than
            # the sun gives, and the grid would not show it.
            available += inputs.battery_power_w
        # In deadline mode the sun has until the final stretch; the battery
        # helps in that stretch, not before (it would take the place of sun
        # still to come).
        if self.memory.mode is ChargeMode.SOLAR_BATTERY and self._battery_may_give(
            inputs
        ):
            available += inputs.battery_max_discharge_w
        return available

    def _battery_may_give(self, inputs: EvInputs) -> bool:
        """Return whether the house battery may feed the car (above its floor)."""
        if inputs.battery_soc is None or inputs.battery_floor_soc is None:
            return False
        return inputs.battery_soc > inputs.battery_floor_soc + BATTERY_FLOOR_BAND

    def _follow_surplus(
        self, now: datetime, available: float, inputs: EvInputs
    ) -> EvStatus:
        """Surplus charging with start/stop delays and phase hysteresis."""
        memory = self.memory
        limits = self.limits
        phases = memory.phases
        # Phases are chosen while charging, and at a start; a car that does
        # not charge keeps its contactors where they are.
        wanted = self._wanted_phases(now, available) if memory.enabled else phases
        if (
            wanted != phases
            and memory.enabled
            and (inputs.ev_power_w or 0) > NO_CURRENT_W
        ):
            return self._begin_switch(now, wanted, inputs)
        if wanted != phases:
            memory.phases = phases = wanted
            memory.last_switch = now
            memory.phase_switches += 1
        if not memory.enabled:
            phases = self._starting_phases(now, available)
        minimum = limits.min_power_w(phases)
        if available >= limits.min_power_w(1):
            memory.below_since = None
            memory.above_since = memory.above_since or now
        else:
            memory.above_since = None
            memory.below_since = memory.below_since or now
        if not memory.enabled:
            if (
                memory.above_since is not None
                and now - memory.above_since >= ENABLE_DELAY
                and available >= minimum
            ):
                return self._charge_at(
                    now,
                    inputs,
                    current=self._current(available, phases),
                    phases=phases,
                    reason=ChargingReason.SURPLUS,
                    available=available,
                )
            return self._hold(
                now,
                enable=False,
                state="waiting",
                reason=ChargingReason.SURPLUS_TOO_SMALL,
                available=available,
            )
        if memory.below_since is not None and now - memory.below_since >= DISABLE_DELAY:
            return self._hold(
                now,
                enable=False,
                state="waiting",
                reason=ChargingReason.SURPLUS_GONE,
                available=available,
            )
        # Keep charging at least at the minimum through a cloud.
        return self._charge_at(
            now,
            inputs,
            current=self._current(available, phases),
            phases=phases,
            reason=ChargingReason.SURPLUS,
            available=available,
        )

    def _wanted_phases(self, now: datetime, available: float) -> int:
        """Return the phases to charge on, with hysteresis and dwell."""
        memory = self.memory
        limits = self.limits
        if not limits.can_switch_phases or memory.phase_choice is PhaseChoice.ONE:
            return 1
        if memory.phase_choice is PhaseChoice.THREE:
            return 3
        three_min = limits.min_power_w(3)
        if available >= three_min * (1 + PHASE_UP_MARGIN):
            memory.up_since = memory.up_since or now
        else:
            memory.up_since = None
        if available < three_min:
            memory.down_since = memory.down_since or now
        else:
            memory.down_since = None
        rested = (
            memory.last_switch is None
            or now - memory.last_switch >= limits.min_phase_switch_interval
        )
        if (
            memory.phases == 1
            and memory.up_since
            and now - memory.up_since >= PHASE_UP_DELAY
            and rested
        ):
            return 3
        if (
            memory.phases == 3
            and memory.down_since
            and now - memory.down_since >= PHASE_DOWN_DELAY
            and rested
        ):
            return 1
        return memory.phases

    def _starting_phases(self, now: datetime, available: float) -> int:
        """Return the phases a start would charge on: three only if the sun carries them."""
        memory = self.memory
        if not self.limits.can_switch_phases or memory.phase_choice is PhaseChoice.ONE:
            return 1
        if memory.phase_choice is PhaseChoice.THREE:
            return 3
        three = available >= self.limits.min_power_w(3) * (1 + PHASE_UP_MARGIN)
        rested = (
            memory.last_switch is None
            or now - memory.last_switch >= self.limits.min_phase_switch_interval
        )
        if not rested:
            return memory.phases
        return 3 if three else 1

    def _forced_phases(self, default: int) -> int:
        """Return the phases for full-power charging."""
        choice = self.memory.phase_choice
        if not self.limits.can_switch_phases or choice is PhaseChoice.ONE:
            return 1
        return 3 if choice is PhaseChoice.THREE else default

    def _current(self, available: float, phases: int) -> float:
        """Return the current that takes ``available`` on ``phases`` (whole amps)."""
        return self._within_limits(
            math.floor(available / (self.limits.voltage_v * phases))
        )

    def _within_limits(self, amps: int) -> float:
        """Return whole amps within the wallbox's minimum and maximum."""
        limits = self.limits
        return float(min(max(amps, limits.min_current_a), limits.max_current_a))

    def _missing_wh(self) -> float:
        """Return the energy the session still needs for its target."""
        memory = self.memory
        return max((memory.target_energy_wh or 0.0) - memory.session_wh, 0.0)

    def _hours_left(self, now: datetime, deadline: datetime) -> float:
        """Return the hours to the deadline, less the margin kept before it."""
        return (deadline - now - DEADLINE_MARGIN).total_seconds() / 3600

    def _deadline_start(self, now: datetime) -> datetime | None:
        """Return when full-power charging must begin to meet the deadline."""
        memory = self.memory
        if memory.deadline is None or memory.target_energy_wh is None:
            return None
        missing = self._missing_wh()
        if missing <= 0:
            return None
        power = self.limits.max_power_w(self._deadline_phases(now))
        return memory.deadline - timedelta(hours=missing / power) - DEADLINE_MARGIN

    def _capped(self, inputs: EvInputs) -> bool:
        """Return whether the site's limits bind a deadline's stretch."""
        peak = inputs.peak_cap_w is not None and not self.memory.above_peak_limit
        return peak or inputs.grid_cap_w is not None or inputs.phase_cap_a is not None

    def _fills_valleys(self, inputs: EvInputs) -> bool:
        """Return whether a forecast of the room under the billed peak is given."""
        return (
            inputs.room_ahead is not None
            and inputs.peak_cap_w is not None
            and not self.memory.above_peak_limit
        )

    def _fill_valleys(self, now: datetime, inputs: EvInputs) -> EvStatus | None:
        """Charge in the forecast's valleys; None where now is not one.

        The room moved by the least power that still holds the need
        (``fill_lift``): the car takes what it leaves now, the peak lifted
        by that power where it is above 0.
        """
        deadline = self._deadline_rooms(now, inputs, inputs.room_ahead)
        if deadline is None:
            return None
        need_wh, stretches, sizes, (peak, grid) = deadline
        lift = fill_lift(stretches, need_wh, **sizes)
        self.memory.stretch_start = first_taken(stretches, lift, **sizes)
        planned = room_at(inputs.room_ahead, now)
        if lift > 0 and planned is not None and not inputs.peak_lift_held:
            # A lift moves the level, not what is left of this billing
            # interval's budget at the old one (the car's own import in it
            # would take the lift back): where the peak limit does not raise
            # its level by the lift (the lab's plan), lift from the plan's
            # room now.
            lift += max(planned - peak, 0.0)
        if min(sizes["max_w"], peak + lift, grid) < sizes["min_w"]:
            return None
        return self._capped_stretch(now, inputs, lift)

    def _plan_stretch(self, now: datetime, inputs: EvInputs) -> Stretch | None:
        """Return the stretch planned on the site's room (see ``ev_deadline``)."""
        memory = self.memory
        ahead = inputs.room_ahead
        if ahead is not None and memory.above_peak_limit:
            ahead = RoomAhead(
                ahead.start, ahead.step, (math.inf,) * len(ahead.peak_w), ahead.grid_w
            )
        deadline = self._deadline_rooms(now, inputs, ahead)
        if deadline is None:
            return None
        need_wh, stretches, sizes, _ = deadline
        stretch = plan_stretch(
            now, stretches, need_wh, **sizes, begun=memory.in_stretch
        )
        memory.stretch_start = stretch.start
        return stretch

    def _deadline_rooms(
        self, now: datetime, inputs: EvInputs, ahead: RoomAhead | None
    ) -> tuple[float, list[Room], dict[str, float], tuple[float, float]] | None:
        """Return what a deadline still needs, with its spare, and the room until it.

        Also the car's least and most power (``min_w``, ``max_w``) and the
        room now under the peak and the safety limits; None, with no
        stretch, where nothing is left to charge.
        """
        memory = self.memory
        missing = self._missing_wh()
        if memory.deadline is None or missing <= 0:
            memory.stretch_start = None
            return None
        most, least = self._forced_phases(3), self._forced_phases(1)
        peak, grid = self._room_now(inputs, most)
        stretches = rooms(now, memory.deadline - DEADLINE_MARGIN, peak, grid, ahead)
        sizes = {
            "min_w": self.limits.min_power_w(least),
            "max_w": self.limits.max_power_w(most),
        }
        return missing * (1 + DEADLINE_SPARE), stretches, sizes, (peak, grid)

    def _room_now(self, inputs: EvInputs, phases: int) -> tuple[float, float]:
        """Return the room (W) under the peak and under the safety limits now."""
        peak = inputs.peak_cap_w
        if peak is None or self.memory.above_peak_limit:
            peak = math.inf
        grid = math.inf if inputs.grid_cap_w is None else inputs.grid_cap_w
        if inputs.phase_cap_a is not None:
            grid = min(grid, inputs.phase_cap_a * self.limits.voltage_v * phases)
        return peak, grid

    def _capped_stretch(
        self, now: datetime, inputs: EvInputs, raise_w: float
    ) -> EvStatus:
        """Take the room the site's limits leave (the peak lifted by ``raise_w``).

        Three phases where the room is more than one phase carries and at
        least the three-phase minimum, one otherwise; a switch waits for
        the rest between switches.
        """
        limits = self.limits
        peak, grid = self._room_now(inputs, self._forced_phases(3))
        allowed = min(limits.max_power_w(3), peak + raise_w, grid)
        # A room moved down (valleys only) is the plan's choice, not a limit.
        raise_w = max(raise_w, 0.0)
        phases = self.memory.phases
        rested = (
            self.memory.last_switch is None
            or now - self.memory.last_switch >= limits.min_phase_switch_interval
        )
        if self._forced_phases(3) == 1:
            phases = 1
        elif self._forced_phases(1) == 3:
            phases = 3
        elif rested and phases == 1 and allowed > limits.max_power_w(1):
            phases = 3 if allowed >= limits.min_power_w(3) else 1
        elif rested and phases == 3 and allowed < limits.min_power_w(3):
            phases = 1
        return self._charge_at(
            now,
            inputs,
            current=self._current(allowed, phases),
            phases=phases,
            reason=ChargingReason.DEADLINE,
            available=self._available(inputs),
            peak_raise_w=raise_w,
        )

    def _final_stretch(self, now: datetime, inputs: EvInputs) -> EvStatus:
        """Charge at the pace the deadline needs, or with the sun when it gives more.

        The stretch runs on the phases that make the deadline; when the sun
        comes to carry three phases (with the same hysteresis as surplus
        charging) the car goes up to three, once: the car takes more of the
        sun and finishes sooner. The current is the larger of the surplus's
        and the pace's, so what the battery and the grid give is only what
        the deadline needs.
        """
        phases = self._deadline_phases(now)
        available = self._available(inputs)
        if (
            available is not None
            and phases == 1
            and self._forced_phases(3) == 3
            and self._wanted_phases(now, available) == 3
        ):
            phases = 3
        current = self._pace_current(now, phases)
        if available is not None:
            current = max(current, self._current(available, phases))
        return self._charge_at(
            now,
            inputs,
            current=current,
            phases=phases,
            reason=ChargingReason.DEADLINE,
            available=available,
        )

    def _pace_current(self, now: datetime, phases: int) -> float:
        """Return the current (whole amps) that delivers the rest by the deadline."""
        deadline = self.memory.deadline
        limits = self.limits
        if deadline is None:
            return limits.max_current_a
        hours_left = self._hours_left(now, deadline)
        if hours_left <= 0:
            return limits.max_current_a
        power = self._missing_wh() / hours_left
        return self._within_limits(math.ceil(power / (limits.voltage_v * phases)))

    def _deadline_phases(self, now: datetime) -> int:
        """Return the phases of the final stretch: the present ones if they make it.

        Starting earlier on the phases the car is on saves a switch; three
        phases only when one would not deliver the rest in the time left.
        """
        memory = self.memory
        forced = self._forced_phases(3)
        if forced == 1 or memory.phases == 3 or memory.deadline is None:
            return forced
        one_phase_hours = self._missing_wh() / self.limits.max_power_w(1)
        hours_left = self._hours_left(now, memory.deadline)
        # The stretch's start was set by this very rule, a step ago: allow
        # that step, the margin covers it.
        return 1 if one_phase_hours <= hours_left + 0.1 else 3

    # --- the switch sequence: stop, wait, switch, wait, resume ------------

    def _begin_switch(self, now: datetime, phases: int, inputs: EvInputs) -> EvStatus:
        """Stop charging to switch phases."""
        memory = self.memory
        memory.switch_to, memory.switch_stage, memory.switch_since = (
            phases,
            "stopping",
            now,
        )
        return self._hold(
            now,
            enable=False,
            state="switching_phases",
            reason=ChargingReason.STOPPING,
            available=None,
        )

    def _continue_switch(self, now: datetime, inputs: EvInputs) -> EvStatus:
        """Go on with a switch: phases only once no current flows."""
        memory = self.memory
        assert memory.switch_since is not None
        assert memory.switch_to is not None
        if memory.switch_stage == "stopping":
            quiet = (inputs.ev_power_w or 0.0) <= NO_CURRENT_W
            if quiet or now - memory.switch_since >= 2 * self.limits.switch_pause:
                memory.phases = memory.switch_to
                memory.last_switch = now
                memory.phase_switches += 1
                memory.switch_stage, memory.switch_since = "pausing", now
            return self._hold(
                now,
                enable=False,
                state="switching_phases",
                reason=ChargingReason.PHASES,
                available=None,
            )
        if now - memory.switch_since < self.limits.switch_pause:
            return self._hold(
                now,
                enable=False,
                state="switching_phases",
                reason=ChargingReason.PAUSING,
                available=None,
            )
        memory.switch_to = memory.switch_stage = memory.switch_since = None
        available = self._available(inputs) or self.limits.min_power_w(memory.phases)
        return self._charge_at(
            now,
            inputs,
            current=self._current(available, memory.phases),
            phases=memory.phases,
            reason=ChargingReason.RESUMED,
            available=available,
            count=False,
        )

    # --- commands and bookkeeping -----------------------------------------

    def _charge_at(
        self,
        now: datetime,
        inputs: EvInputs,
        *,
        current: float,
        phases: int,
        reason: ChargingReason,
        available: float | None,
        count: bool = True,
        peak_raise_w: float = 0.0,
    ) -> EvStatus:
        """Command charging at a current (the peak limit lifted by ``peak_raise_w``)."""
        memory = self.memory
        if (
            phases != memory.phases
            and memory.enabled
            and (inputs.ev_power_w or 0) > NO_CURRENT_W
        ):
            return self._begin_switch(now, phases, inputs)
        if phases != memory.phases:
            memory.phases = phases
            memory.last_switch = now
            memory.phase_switches += 1
        decision = self._within_site_limits(
            now, inputs, current, phases, reason, peak_raise_w=peak_raise_w
        )
        if self._held_by_site_limits(now, decision, lifted=peak_raise_w > 0):
            return self._hold(
                now,
                enable=False,
                state="waiting",
                reason=memory.site_held_by or ChargingReason(decision.reason),
                available=available,
            )
        if not memory.enabled and count:
            memory.start_stops += 1
        memory.enabled = True
        if peak_raise_w > 0 and inputs.peak_cap_w is not None:
            # The lift the command takes: what it charges with above the room
            # now (whole amps, the car's most), never more than the need's.
            taken = decision.value * self.limits.voltage_v * phases
            self._peak_lift_w = min(max(taken - inputs.peak_cap_w, 0.0), peak_raise_w)
        command = EvCommand(True, decision.value, phases, self.limits.route_for(phases))
        self._status = self._make_status(
            command, "charging", ChargingReason(decision.reason), available, now
        )
        return self._status

    def _held_by_site_limits(
        self, now: datetime, decision: Decision, *, lifted: bool = False
    ) -> bool:
        """Return whether the site's limits keep the car off this step.

        A deadline that lifts the peak limit restarts after the hold
        without the margin: its need sets the current, not a hovering limit.
        """
        memory = self.memory
        minimum = self.limits.min_current_a
        if decision.value < minimum:
            if memory.site_held_since is None:
                memory.site_held_since = now
                memory.site_held_by = ChargingReason(decision.reason)
            return True
        if memory.site_held_since is None:
            return False
        if (
            now - memory.site_held_since < SITE_LIMIT_HOLD
            or decision.value < minimum * (1 + SITE_LIMIT_RESTART_MARGIN * (not lifted))
        ):
            return True
        memory.site_held_since = memory.site_held_by = None
        return False

    def _within_site_limits(
        self,
        now: datetime,
        inputs: EvInputs,
        current: float,
        phases: int,
        reason: ChargingReason,
        *,
        peak_raise_w: float = 0.0,
    ) -> Decision:
        """Return the current the site's limits leave of the wish, and why.

        A phase's fuse and the grid connection's limit are safety; the
        billed peak binds every mode but a session the user sent through it
        (a user request, above the peak limit), lifted by what a deadline
        needs (``peak_raise_w``). Whole amps, rounded down.
        """
        volts = self.limits.voltage_v * phases
        proposals = [
            Proposal(
                layer=Layer.USER_REQUEST
                if self.memory.above_peak_limit
                else Layer.SITE_PLAN,
                reason=reason.value,
                value=current,
            )
        ]
        if inputs.phase_cap_a is not None:
            proposals.append(
                Proposal(
                    layer=Layer.SAFETY,
                    reason=ChargingReason.PHASE_LIMIT.value,
                    lowest=0.0,
                    highest=max(math.floor(inputs.phase_cap_a), 0),
                )
            )
        if inputs.grid_cap_w is not None:
            proposals.append(
                Proposal(
                    layer=Layer.SAFETY,
                    reason=ChargingReason.GRID_LIMIT.value,
                    lowest=0.0,
                    highest=max(math.floor(inputs.grid_cap_w / volts), 0),
                )
            )
        if inputs.peak_cap_w is not None:
            proposals.append(
                Proposal(
                    layer=Layer.PEAK_LIMIT,
                    reason=ChargingReason.PEAK_LIMIT.value,
                    lowest=0.0,
                    highest=max(
                        math.floor((inputs.peak_cap_w + peak_raise_w) / volts), 0
                    ),
                )
            )
        return arbitrate(proposals, now, default=0.0, default_reason=reason.value)

    def _hold(
        self,
        now: datetime,
        *,
        enable: bool,
        state: str,
        reason: ChargingReason,
        available: float | None = None,
    ) -> EvStatus:
        """Command the wallbox on at its minimum, or off."""
        memory = self.memory
        memory.enabled = enable
        # Not charging: PV as even as it goes; the car keeps its phases.
        command = EvCommand(
            enable,
            self.limits.min_current_a if enable else 0.0,
            memory.phases,
            self.limits.route_for(memory.phases if enable else 3),
        )
        self._status = self._make_status(command, state, reason, available, now)
        return self._status

    def _book(self, now: datetime, inputs: EvInputs) -> None:
        """Add the energy the car took since the last step, by source."""
        memory = self.memory
        last, memory.last_time = memory.last_time, now
        if last is None or inputs.ev_power_w is None or now <= last:
            return
        hours = min((now - last).total_seconds(), 900) / 3600
        ev_wh = max(inputs.ev_power_w, 0.0) * hours
        grid_wh = min(ev_wh, max(inputs.grid_power_w or 0.0, 0.0) * hours)
        battery_wh = min(
            ev_wh - grid_wh, max(-(inputs.battery_power_w or 0.0), 0.0) * hours
        )
        memory.session_wh += ev_wh
        memory.grid_wh += grid_wh
        memory.battery_wh += battery_wh
        memory.solar_wh += ev_wh - grid_wh - battery_wh

    def _make_status(
        self,
        command: EvCommand | None,
        state: str,
        reason: ChargingReason,
        available: float | None,
        now: datetime | None = None,
    ) -> EvStatus:
        """Assemble the status."""
        memory = self.memory
        command = command or EvCommand(
            False, 0.0, memory.phases, self.limits.route_for(3)
        )
        return EvStatus(
            command=command,
            mode=memory.mode,
            state=state,
            reason=reason,
            phases_in_use=memory.phases,
            available_w=available,
            session_energy_wh=memory.session_wh,
            solar_energy_wh=memory.solar_wh,
            battery_energy_wh=memory.battery_wh,
            grid_energy_wh=memory.grid_wh,
            phase_switches=memory.phase_switches,
            start_stops=memory.start_stops,
            deadline_start=(memory.stretch_start or self._deadline_start(now))
            if now
            else None,
            peak_lift_w=self._peak_lift_w,
        )

    def snapshot(self) -> dict[str, Any]:
        """Return the session and the mode, JSON-able."""
        memory = self.memory
        return {
            "version": 1,
            "mode": memory.mode.value,
            "phase_choice": memory.phase_choice.value,
            "target_energy_wh": memory.target_energy_wh,
            "deadline": memory.deadline.isoformat() if memory.deadline else None,
            "above_peak_limit": memory.above_peak_limit,
            "phases": memory.phases,
            "session_wh": memory.session_wh,
            "solar_wh": memory.solar_wh,
            "battery_wh": memory.battery_wh,
            "grid_wh": memory.grid_wh,
        }

    def _restore(self, saved: dict[str, Any]) -> None:
        """Take a snapshot back; raise ValueError if it is not one."""
        if saved.get("version") != 1:
            raise ValueError(
                f"saved charging state has version {saved.get('version')!r}"
            )
        memory = self.memory
        memory.mode = ChargeMode(saved["mode"])
        memory.phase_choice = PhaseChoice(saved["phase_choice"])
        memory.target_energy_wh = saved.get("target_energy_wh")
        deadline = saved.get("deadline")
        memory.deadline = datetime.fromisoformat(deadline) if deadline else None
        # Saved before sessions could go above the peak limit: they could not.
        memory.above_peak_limit = saved.get("above_peak_limit", False) is True
        memory.phases = int(saved["phases"])
        if memory.phases not in (1, 3):
            raise ValueError("saved phases are neither 1 nor 3")
        for key in ("session_wh", "solar_wh", "battery_wh", "grid_wh"):
            value = float(saved[key])
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"saved {key} is not an energy")
            setattr(memory, key, value)
