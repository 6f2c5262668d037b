"""The battery's state machine: charge, rest, sell, and why.

One function decides (``_decide``) and one method changes the state
(``_enter``); every transition carries a machine-readable reason and a
sentence for people. The rules, in the order they win:

1. Safety, whatever the mode: no charging at or above the absorb voltage,
   no selling at or below the cut-off voltage or the SOC floor; inputs gone
   for a minute mean rest, because limits can no longer be watched.
2. A requested mode (the select or the set-mode action) holds its state
   until it expires; a requested charge may pass the SOC ceiling (a user
   filling up before a storm), never the absorb voltage.
3. The peak reserve: the energy a peak-shaving plan holds for the hours
   ahead is a floor automatic selling stops at (a request may go below it,
   as the site's priority order lets a user go through the peak limit).
4. Automatic: charging stops at the ceiling, selling at the floor, either
   when its time window closes. After any stop the battery rests at least
   the minimum rest time, then goes the other way: down after a full
   charge, up after an empty one, as windows allow. With a price plan
   (``battery_price_plan``) the plan's state of the hour takes the windows'
   place: charge in a cheap hour, sell in a dear one, rest between, as
   the limits allow.

Thresholds have a hysteresis band: a battery that stopped at the ceiling
does not start charging again until it has fallen below it by the band, so
noise on the SOC cannot make the state flap.

The SOC is an estimate with an uncertainty, and the machine errs on the
side of the limit: the floor counts as reached when the SOC may be there
(two sigmas below the estimate), the ceiling likewise (two above).
A battery whose SOC is doubtful sells and charges less, never past a limit
on trust.
"""

from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any

# SOC points a threshold must be crossed back by before it can fire again.
SOC_HYSTERESIS = 3.0
# How many sigmas of the SOC's uncertainty a limit is judged by: at two, a
# true SOC past the limit is left for one time in forty.
SOC_MARGIN_SIGMAS = 2.0
# Volts per cell, the same for voltage limits.
VOLTAGE_HYSTERESIS = 0.05
# How long the state machine keeps a state without the inputs that guard it.
INPUT_GRACE = timedelta(minutes=1)


class BatteryState(StrEnum):
    """What the battery is doing."""

    CHARGE = "charge"
    REST = "rest"
    SELL = "sell"


class BatteryMode(StrEnum):
    """What the user asks for: automatic, or one state held."""

    AUTO = "auto"
    CHARGE = "charge"
    REST = "rest"
    SELL = "sell"


class Reason(StrEnum):
    """Why the battery is in its state."""

    STARTED = "started"
    VOLTAGE_HIGH = "voltage_high"
    VOLTAGE_LOW = "voltage_low"
    SOC_CEILING = "soc_ceiling"
    SOC_FLOOR = "soc_floor"
    CHARGE_WINDOW_CLOSED = "charge_window_closed"
    SELL_WINDOW_CLOSED = "sell_window_closed"
    REST_OVER = "rest_over"
    REQUESTED = "requested"
    REQUEST_EXPIRED = "request_expired"
    INPUTS_UNAVAILABLE = "inputs_unavailable"
    PEAK_RESERVE = "peak_reserve"
    # The price plan's (``battery_price_plan``).
    CHEAP_HOUR = "cheap_hour"
    DEAR_HOUR = "dear_hour"
    HOLDING_CHARGE = "holding_charge"
    FILLING_PEAK_RESERVE = "filling_peak_reserve"
    # The flexible loads' plan's: the battery stores a surplus, at rest.
    SOAKING_SURPLUS = "soaking_surplus"
    PRICE_PLAN_ENDED = "price_plan_ended"


# What a rule decides: the state to go to, the reason code and the sentence.
type Decision = tuple[BatteryState, Reason, str]

# The price plan's own reasons.
_PLAN_REASONS = frozenset(
    {
        Reason.CHEAP_HOUR,
        Reason.DEAR_HOUR,
        Reason.HOLDING_CHARGE,
        Reason.FILLING_PEAK_RESERVE,
        Reason.SOAKING_SURPLUS,
    }
)
# Reasons the price plan takes over for the state they hold: the windows'
# and the automatic rules', and its own.
_RELABELLED = _PLAN_REASONS | {
    Reason.STARTED,
    Reason.REST_OVER,
    Reason.CHARGE_WINDOW_CLOSED,
    Reason.SELL_WINDOW_CLOSED,
    Reason.REQUEST_EXPIRED,
    Reason.PRICE_PLAN_ENDED,
}
# Stops at a limit, after which the battery rests its minimum rest time.
_LIMIT_STOPS = frozenset(
    {Reason.SOC_CEILING, Reason.SOC_FLOOR, Reason.VOLTAGE_HIGH, Reason.VOLTAGE_LOW}
)


@dataclass(frozen=True)
class Transition:
    """One change of state."""

    at: datetime
    from_state: BatteryState
    to_state: BatteryState
    reason: Reason
    detail: str


@dataclass(frozen=True)
class StateLimits:
    """The thresholds the state machine works with."""

    soc_floor: float  # %
    soc_ceiling: float  # %
    cell_voltage_min: float
    cell_voltage_max: float
    min_rest: timedelta
    charge_window: tuple[time, time] | None
    sell_window: tuple[time, time] | None


@dataclass(frozen=True)
class SocReading:
    """The SOC estimate and its one-sigma uncertainty, both in %."""

    estimate: float
    uncertainty: float = 0.0

    @property
    def low(self) -> float:
        """Return the SOC the floor is judged by: as low as it may be."""
        return self.estimate - SOC_MARGIN_SIGMAS * self.uncertainty

    @property
    def high(self) -> float:
        """Return the SOC the ceiling is judged by: as high as it may be."""
        return self.estimate + SOC_MARGIN_SIGMAS * self.uncertainty

    def __str__(self) -> str:
        """Return the estimate for a sentence, with its uncertainty when it has one."""
        if self.uncertainty <= 0:
            return f"{self.estimate:.1f} %"
        return f"{self.estimate:.1f} % ± {self.uncertainty:.1f}"


def in_window(window: tuple[time, time] | None, local: time) -> bool:
    """Return whether a local clock time is inside a window (None: always).

    A window whose end is before its start runs over midnight (22:00-06:00).
    """
    if window is None:
        return True
    start, end = window
    if start <= end:
        return start <= local < end
    return local >= start or local < end


@dataclass
class MachineState:
    """The state machine's memory; JSON-able through ``snapshot``."""

    state: BatteryState
    since: datetime
    reason: Reason
    detail: str
    mode: BatteryMode = BatteryMode.AUTO
    mode_until: datetime | None = None
    # Which end the battery last stopped at: the way it goes next.
    last_limit: str | None = None
    inputs_missing_since: datetime | None = None


class BatteryStateMachine:
    """Decides charge, rest or sell from SOC, voltage, time and requests."""

    def __init__(self, limits: StateLimits, memory: MachineState) -> None:
        """Start from a memory (a new one rests; a restored one continues)."""
        self.limits = limits
        self.memory = memory

    @classmethod
    def starting(cls, limits: StateLimits, now: datetime) -> BatteryStateMachine:
        """Return a machine that starts at rest, deciding from the next step."""
        return cls(
            limits,
            MachineState(
                state=BatteryState.REST,
                since=now - limits.min_rest,
                reason=Reason.STARTED,
                detail="Started; no state to resume.",
            ),
        )

    def request(self, now: datetime, mode: BatteryMode, until: datetime | None) -> None:
        """Take a requested mode; the next step acts on it."""
        self.memory.mode = mode
        self.memory.mode_until = until if mode is not BatteryMode.AUTO else None

    def step(
        self,
        now: datetime,
        local: time,
        soc: float | None,
        cell_voltage: float | None,
        soc_uncertainty: float = 0.0,
        *,
        reserve: float | None = None,
        plan: Decision | None = None,
    ) -> Transition | None:
        """Decide once; return the transition if the state changed.

        ``soc`` and its one-sigma ``soc_uncertainty`` are in %; ``reserve``
        is the SOC (%) a peak-shaving plan holds now (None: no plan);
        ``plan`` the state the price plan asks for now, and why (None: the
        time windows decide).
        """
        memory = self.memory
        expired = memory.mode_until is not None and now >= memory.mode_until
        if expired:
            memory.mode = BatteryMode.AUTO
            memory.mode_until = None
        if soc is None or cell_voltage is None:
            memory.inputs_missing_since = memory.inputs_missing_since or now
        else:
            memory.inputs_missing_since = None
        reading = None if soc is None else SocReading(soc, soc_uncertainty)
        decision = self._decide(
            now, local, reading, cell_voltage, reserve=reserve, plan=plan
        )
        if decision is None:
            return None
        state, reason, detail = decision
        if expired and reason is not Reason.REQUESTED:
            detail = f"Requested mode expired. {detail}"
        if state is memory.state:
            # The price plan took over the state the battery is in.
            memory.reason, memory.detail = reason, detail
            return None
        return self._enter(now, state, reason, detail)

    def _decide(
        self,
        now: datetime,
        local: time,
        soc: SocReading | None,
        cell_v: float | None,
        *,
        reserve: float | None = None,
        plan: Decision | None = None,
    ) -> Decision | None:
        """Return the state to go to and why, or None to stay: the rules in order."""
        if soc is None or cell_v is None:
            return self._inputs_missing(now)
        if (safety := self._safety(soc, cell_v)) is not None:
            return safety
        limits = self.limits
        can_charge = cell_v < limits.cell_voltage_max - VOLTAGE_HYSTERESIS
        can_sell = (
            cell_v > limits.cell_voltage_min + VOLTAGE_HYSTERESIS
            and soc.low > limits.soc_floor + SOC_HYSTERESIS
        )
        if self.memory.mode is not BatteryMode.AUTO:
            return self._requested(can_charge=can_charge, can_sell=can_sell)
        if (held := self._peak_reserve(soc, reserve)) is not None:
            return held
        if reserve is not None and soc.low <= reserve + SOC_HYSTERESIS:
            can_sell = False
        if plan is not None:
            return self._planned(
                now, soc, plan, can_charge=can_charge, can_sell=can_sell
            )
        if self.memory.reason in _PLAN_REASONS:
            # Prices gone: rest, and the windows decide from there.
            return (
                BatteryState.REST,
                Reason.PRICE_PLAN_ENDED,
                "The price plan ended; the time windows decide.",
            )
        return self._automatic(
            now, local, soc, can_charge=can_charge, can_sell=can_sell
        )

    def _inputs_missing(self, now: datetime) -> Decision | None:
        """Rest once the voltage or SOC has been missing for the grace time."""
        memory = self.memory
        missing = memory.inputs_missing_since
        if (
            memory.state is not BatteryState.REST
            and missing
            and now - missing >= INPUT_GRACE
        ):
            return (
                BatteryState.REST,
                Reason.INPUTS_UNAVAILABLE,
                "Battery voltage or state of charge unavailable; limits cannot be watched.",
            )
        return None

    def _safety(self, soc: SocReading, cell_v: float) -> Decision | None:
        """Rule 1, whatever was asked: stop at the absorb voltage, cut-off, floor."""
        state = self.memory.state
        limits = self.limits
        rest = BatteryState.REST
        if state is BatteryState.CHARGE and cell_v >= limits.cell_voltage_max:
            return (
                rest,
                Reason.VOLTAGE_HIGH,
                f"Cell voltage {cell_v:.3f} V reached the absorb voltage {limits.cell_voltage_max:.3f} V.",
            )
        if state is BatteryState.SELL and cell_v <= limits.cell_voltage_min:
            return (
                rest,
                Reason.VOLTAGE_LOW,
                f"Cell voltage {cell_v:.3f} V reached the cut-off {limits.cell_voltage_min:.3f} V.",
            )
        if state is BatteryState.SELL and soc.low <= limits.soc_floor:
            return (
                rest,
                Reason.SOC_FLOOR,
                f"State of charge {soc} reached the floor {limits.soc_floor:.0f} %.",
            )
        return None

    def _peak_reserve(self, soc: SocReading, reserve: float | None) -> Decision | None:
        """Rule 3: stop an automatic sale at the energy the peak plan holds."""
        if (
            reserve is None
            or self.memory.state is not BatteryState.SELL
            or soc.low > reserve
        ):
            return None
        return (
            BatteryState.REST,
            Reason.PEAK_RESERVE,
            f"State of charge {soc} reached the {reserve:.0f} % peak shaving holds"
            " for the hours ahead.",
        )

    def _planned(
        self,
        now: datetime,
        soc: SocReading,
        plan: Decision,
        *,
        can_charge: bool,
        can_sell: bool,
    ) -> Decision | None:
        """Rule 4 with a price plan: its state where the limits allow it.

        The plan takes the windows' place; the ceiling still ends a charge
        and the minimum rest still holds after a stop at a limit.
        """
        memory = self.memory
        limits = self.limits
        wanted, reason, detail = plan
        rest = BatteryState.REST
        full_ceiling = limits.soc_ceiling >= 100
        top = soc.estimate if full_ceiling else soc.high
        if (
            memory.state is BatteryState.CHARGE
            and wanted is BatteryState.CHARGE
            and not full_ceiling
            and top >= limits.soc_ceiling
        ):
            return (
                rest,
                Reason.SOC_CEILING,
                f"State of charge {soc} reached the ceiling {limits.soc_ceiling:.0f} %.",
            )
        if wanted is memory.state:
            if memory.reason in _RELABELLED and memory.reason is not reason:
                # Same state, now the plan's: its reason, no transition.
                return wanted, reason, detail
            return None
        allowed = {
            BatteryState.CHARGE: can_charge
            and top < limits.soc_ceiling - SOC_HYSTERESIS,
            BatteryState.SELL: can_sell,
            BatteryState.REST: True,
        }[wanted]
        if not allowed:
            if memory.state is rest:
                return None
            # The plan's state is out of reach: the battery waits at rest.
            return rest, reason, f"{detail} Limits hold the battery at rest."
        stopped_at_limit = memory.reason in _LIMIT_STOPS
        if (
            memory.state is rest
            and stopped_at_limit
            and now - memory.since < limits.min_rest
        ):
            return None
        return wanted, reason, detail

    def _requested(self, *, can_charge: bool, can_sell: bool) -> Decision | None:
        """Rule 2: go to the requested state where the limits allow it."""
        wanted = BatteryState(self.memory.mode.value)
        allowed = {
            BatteryState.CHARGE: can_charge,
            BatteryState.SELL: can_sell,
            BatteryState.REST: True,
        }[wanted]
        if wanted is not self.memory.state and allowed:
            return (
                wanted,
                Reason.REQUESTED,
                f"{wanted.value.capitalize()} was requested.",
            )
        return None

    def _automatic(
        self,
        now: datetime,
        local: time,
        soc: SocReading,
        *,
        can_charge: bool,
        can_sell: bool,
    ) -> Decision | None:
        """Rule 4: stop at the ceiling or a closed window; after a rest, go on."""
        memory = self.memory
        limits = self.limits
        rest = BatteryState.REST
        # A ceiling of 100 % is full: the absorb voltage ends the charge (rule
        # 1), not an estimate that may say 100 % too soon; the estimate itself
        # says when to charge again.
        full_ceiling = limits.soc_ceiling >= 100
        top = soc.estimate if full_ceiling else soc.high
        if memory.state is BatteryState.CHARGE:
            if not full_ceiling and top >= limits.soc_ceiling:
                return (
                    rest,
                    Reason.SOC_CEILING,
                    f"State of charge {soc} reached the ceiling {limits.soc_ceiling:.0f} %.",
                )
            if not in_window(limits.charge_window, local):
                return rest, Reason.CHARGE_WINDOW_CLOSED, "The charging window closed."
            return None
        if memory.state is BatteryState.SELL:
            if not in_window(limits.sell_window, local):
                return rest, Reason.SELL_WINDOW_CLOSED, "The selling window closed."
            return None
        if now - memory.since < limits.min_rest:
            return None
        charge_ok = (
            can_charge
            and top < limits.soc_ceiling - SOC_HYSTERESIS
            and in_window(limits.charge_window, local)
        )
        sell_ok = can_sell and in_window(limits.sell_window, local)
        # Down after a full charge, up after an empty battery; from the
        # middle, charging first (a fuller battery is the safer one).
        order = (
            (BatteryState.SELL, BatteryState.CHARGE)
            if memory.last_limit == "full"
            else (BatteryState.CHARGE, BatteryState.SELL)
        )
        for candidate in order:
            if candidate is BatteryState.CHARGE and charge_ok:
                return (
                    candidate,
                    Reason.REST_OVER,
                    f"Rested; state of charge {soc} is below the ceiling {limits.soc_ceiling:.0f} %.",
                )
            if candidate is BatteryState.SELL and sell_ok:
                return (
                    candidate,
                    Reason.REST_OVER,
                    f"Rested; state of charge {soc} is above the floor {limits.soc_floor:.0f} %.",
                )
        return None

    def _enter(
        self, now: datetime, state: BatteryState, reason: Reason, detail: str
    ) -> Transition:
        """Change state: the only place that does."""
        memory = self.memory
        transition = Transition(now, memory.state, state, reason, detail)
        memory.state = state
        memory.since = now
        memory.reason = reason
        memory.detail = detail
        if reason in (Reason.SOC_CEILING, Reason.VOLTAGE_HIGH):
            memory.last_limit = "full"
        elif reason in (Reason.SOC_FLOOR, Reason.VOLTAGE_LOW):
            memory.last_limit = "empty"
        return transition

    def snapshot(self) -> dict[str, Any]:
        """Return the memory as JSON-able data."""
        data = asdict(self.memory)
        for key in ("since", "mode_until", "inputs_missing_since"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return data


def machine_state_from(data: Any) -> MachineState:
    """Rebuild the memory from saved data; raise ValueError/TypeError if unusable."""
    if not isinstance(data, dict):
        raise TypeError("state machine memory is not a mapping")

    def stamp(key: str) -> datetime | None:
        value = data.get(key)
        if value is None:
            return None
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError(f"{key} has no time zone")
        return moment

    since = stamp("since")
    if since is None:
        raise ValueError("state machine memory has no 'since'")
    return MachineState(
        state=BatteryState(data["state"]),
        since=since,
        reason=Reason(data["reason"]),
        detail=str(data.get("detail", "")),
        mode=BatteryMode(data.get("mode", BatteryMode.AUTO)),
        mode_until=stamp("mode_until"),
        last_limit=data.get("last_limit"),
        inputs_missing_since=stamp("inputs_missing_since"),
    )
