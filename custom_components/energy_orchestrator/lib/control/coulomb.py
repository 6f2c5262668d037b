"""The SOC estimator: counted charge, corrected by what the battery tells at rest.

Counting alone drifts: a current sensor's offset integrates into amp-hours
every hour of every day, and the efficiency and capacity it divides by are
guesses until learned. This estimator counts (trapezoid over the samples,
an efficiency on charge) and keeps an honest one-sigma uncertainty that
grows with what it counted. Three witnesses pull it back:

- full: absorb voltage with the current tapered below the tail current;
- empty: the cut-off voltage (corrected for the sag under load);
- rest: after the current has been near zero long enough for the voltage to
  relax, the open-circuit voltage gives a SOC of its own, weighed against
  the count by both uncertainties (a one-dimensional Kalman update). On
  LFP's plateau that weight is small, on the steep ends large.

Between two witnesses the counted amp-hours teach the capacity (full to
empty and back) and the coulombic efficiency (full to full); a rest with the
battery commanded idle teaches the sensor's offset. Nothing here reads a
clock: time comes with every sample.
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
import math
from typing import Any, Literal

from .battery_model import (
    CELL_MODELS,
    Chemistry,
    soc_from_ocv,
    soc_uncertainty_from_voltage,
)

type Anchor = Literal["full", "empty"]

# A gap longer than this is not integrated: what flowed then is unknown, and
# holding the last current over an hour would be a guess.
MAX_GAP = timedelta(minutes=15)
# Samples closer than this to the previous one add nothing and are skipped.
MIN_STEP = timedelta(milliseconds=100)
# Relative error of a shunt or hall sensor's gain, as one sigma per Ah counted.
GAIN_UNCERTAINTY = 0.01
# What an offset may be believed to be, one sigma, before one is learned.
OFFSET_UNCERTAINTY_A = 0.2
# The uncertainty the estimate starts from after a full or empty anchor.
ANCHOR_UNCERTAINTY = 0.01
# A witness must move this much charge between two anchors to teach anything.
MIN_LEARNING_FRACTION = 0.5
# Learned figures move this far towards each new measurement.
LEARNING_RATE = 0.3
# How much the mean voltage (per cell) may move between two halves of a
# relaxation time for the rest to count as settled.
SETTLED_VOLTAGE_DRIFT = 0.003
# Two witnesses teach the offset when they are this many hours apart (a
# shorter span lets voltage noise pass for offset) and the net charge counted
# between them is below this share of the capacity (a capacity error then
# cannot pass for offset either).
MIN_DRIFT_HOURS = 6.0
MAX_DRIFT_NET_FRACTION = 0.1
# They teach the capacity when their SOCs are this far apart, within this
# many hours (so an offset cannot pass for capacity).
MIN_CAPACITY_SPAN = 0.4
MAX_CAPACITY_HOURS = 24.0
# A rest witnesses the SOC by itself when the curve pins it this closely.
WITNESS_SIGMA = 0.03


class Rejection:
    """Why a sample was not counted; the keys of ``CounterState.rejected``."""

    TIME_BACKWARDS = "time_backwards"
    GAP = "gap"
    CURRENT_SPIKE = "current_spike"
    NO_CURRENT = "no_current"


@dataclass
class CounterState:
    """Everything the estimator knows; JSON-able through ``asdict``."""

    soc: float | None = None
    # One sigma, as a fraction of capacity.
    uncertainty: float = 1.0
    # Where the estimate last got its footing: voltage, bms, full, empty,
    # rest, calibrated; "counted" adds nothing new and is not stored.
    source: str = "none"
    ah_charged: float = 0.0
    ah_discharged: float = 0.0
    capacity_ah: float = 0.0
    efficiency: float = 1.0
    offset_a: float = 0.0
    last_time: str | None = None
    last_current: float | None = None
    # The rest in progress: since when, its charge-direction history, and
    # what it has measured so far.
    rest_since: str | None = None
    # The rest is watched in segments of half a relaxation time; it has
    # settled when two segments' mean voltages agree.
    segment_since: str | None = None
    segment_voltage_sum: float = 0.0
    segment_samples: int = 0
    previous_segment_voltage: float | None = None
    rest_current_sum: float = 0.0
    rest_samples: int = 0
    rest_idle: bool = True
    rest_done: bool = False
    # The last witness that knew the SOC by itself (full, empty, a rest on
    # a steep part of the curve): when, what it said, and the net charge
    # counted since. Two such witnesses teach the offset and the capacity.
    witness_time: str | None = None
    witness_soc: float | None = None
    witness_net_ah: float = 0.0
    last_direction: int = 0
    anchor: str | None = None
    anchor_ah_in: float = 0.0
    anchor_ah_out: float = 0.0
    rejected: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CounterLimits:
    """The battery the estimator counts for."""

    chemistry: Chemistry
    cells_in_series: int
    nameplate_ah: float
    voltage_min: float  # per cell: empty
    voltage_max: float  # per cell: absorb
    tail_current_a: float
    # Larger currents than this are measurement errors, not current.
    max_plausible_current_a: float

    @property
    def rest_current_a(self) -> float:
        """Return the current below which the battery counts as resting."""
        return max(0.01 * self.nameplate_ah, 0.3)

    @property
    def max_offset_a(self) -> float:
        """Return the largest offset the estimator will learn.

        A rest with the inverter idle still feeds its own standby draw from
        the battery; that is real current, and only a small residual may be
        taken for the sensor's offset.
        """
        return max(0.005 * self.nameplate_ah, 0.2)

    @property
    def cell_resistance_ohm(self) -> float:
        """Return a typical cell resistance for this capacity."""
        model = CELL_MODELS[self.chemistry]
        return model.resistance_ohm_100ah * 100 / self.nameplate_ah


class CoulombCounter:
    """Counts charge in and out and keeps the SOC honest. See module doc."""

    def __init__(
        self, limits: CounterLimits, state: CounterState | None = None
    ) -> None:
        """Start from a saved state, or from nothing (the first sample decides)."""
        self.limits = limits
        self.state = state or CounterState(
            capacity_ah=limits.nameplate_ah,
            efficiency=CELL_MODELS[limits.chemistry].coulombic_efficiency,
        )

    # --- reading ---------------------------------------------------------

    @property
    def soc(self) -> float | None:
        """Return the SOC (0..1), None until one is known."""
        return self.state.soc

    @property
    def state_of_health(self) -> float:
        """Return the learned capacity as a percentage of the nameplate."""
        return 100 * self.state.capacity_ah / self.limits.nameplate_ah

    def snapshot(self) -> dict[str, Any]:
        """Return the state as JSON-able data."""
        return asdict(self.state)

    # --- setting ---------------------------------------------------------

    def initialise(self, soc: float, uncertainty: float, source: str) -> None:
        """Take a SOC from a witness that knows nothing of the past."""
        self.state.soc = min(max(soc, 0.0), 1.0)
        self.state.uncertainty = uncertainty
        self.state.source = source

    def calibrate(self, soc: float) -> None:
        """Take a SOC the user knows (a reset); it starts a new learning span."""
        self.initialise(soc, ANCHOR_UNCERTAINTY, "calibrated")
        self.state.anchor = None
        self.state.anchor_ah_in = self.state.anchor_ah_out = 0.0

    # --- counting ----------------------------------------------------------

    def step(
        self,
        now: datetime,
        voltage_v: float | None,
        current_a: float | None,
        *,
        idle: bool,
        temperature_c: float | None = None,
    ) -> None:
        """Count one sample; then let full, empty and rest witnesses speak.

        ``idle`` says the battery is commanded to rest, so a current seen
        then is mostly the sensor's offset. A sample that cannot be trusted
        (no current, a spike, time going backwards) is counted in
        ``state.rejected`` and changes nothing.
        """
        state = self.state
        if current_a is None:
            # The next good sample covers the hole, up to MAX_GAP.
            self._reject(Rejection.NO_CURRENT)
            return
        if abs(current_a) > self.limits.max_plausible_current_a:
            self._reject(Rejection.CURRENT_SPIKE)
            return
        last = datetime.fromisoformat(state.last_time) if state.last_time else None
        if last is not None and now - last < MIN_STEP:
            if now < last:
                # A clock set back: start counting again from here.
                self._reject(Rejection.TIME_BACKWARDS)
                state.last_time = now.isoformat()
            return
        current = current_a - state.offset_a
        if last is not None:
            if now - last > MAX_GAP:
                self._reject(Rejection.GAP)
                # The unknown charge of the gap: as if the offset ran unchecked.
                state.uncertainty += (
                    OFFSET_UNCERTAINTY_A * (now - last).total_seconds() / 3600
                ) / state.capacity_ah
            else:
                self._count(current, (now - last).total_seconds())
        state.last_time = now.isoformat()
        state.last_current = current
        if state.soc is None:
            return
        if voltage_v is not None:
            cell_v = voltage_v / self.limits.cells_in_series
            self._witness_full_or_empty(now, cell_v, current)
            self._witness_rest(now, cell_v, current, idle, temperature_c)

    def _count(self, current: float, seconds: float) -> None:
        """Integrate the current over one interval (trapezoid)."""
        state = self.state
        previous = state.last_current if state.last_current is not None else current
        ah = (previous + current) / 2 * seconds / 3600
        if ah > 0:
            state.ah_charged += ah
            state.anchor_ah_in += ah
            stored = ah * state.efficiency
        else:
            state.ah_discharged -= ah
            state.anchor_ah_out -= ah
            stored = ah
        state.witness_net_ah += stored
        if current > self.limits.rest_current_a:
            state.last_direction = 1
        elif current < -self.limits.rest_current_a:
            state.last_direction = -1
        if state.soc is not None:
            state.soc = min(max(state.soc + stored / state.capacity_ah, 0.0), 1.0)
            state.uncertainty = min(
                state.uncertainty
                + (GAIN_UNCERTAINTY * abs(ah) + _offset_sigma(state) * seconds / 3600)
                / state.capacity_ah,
                1.0,
            )

    def _witness_full_or_empty(
        self, now: datetime, cell_v: float, current: float
    ) -> None:
        """Anchor at full (absorb voltage, tail current) or empty (cut-off)."""
        limits = self.limits
        # The voltage the cell would show without the current through it.
        relaxed_v = cell_v - current * limits.cell_resistance_ohm
        if (
            cell_v >= limits.voltage_max - 0.02
            and 0 <= current <= limits.tail_current_a
            and not self._anchored_at("full")
        ):
            self._anchor(now, "full")
        elif (
            relaxed_v <= limits.voltage_min
            and current <= 0
            and not self._anchored_at("empty")
        ):
            self._anchor(now, "empty")

    def _anchored_at(self, anchor: Anchor) -> bool:
        """Return whether the battery sits at this anchor since it was set.

        Sitting at full for an hour is one anchor, not one per sample; a few
        percent of charge moved since makes the next one count.
        """
        state = self.state
        moved = state.anchor_ah_in + state.anchor_ah_out
        return state.anchor == anchor and moved < 0.03 * state.capacity_ah

    def _anchor(self, now: datetime, anchor: Anchor) -> None:
        """Set the SOC to full or empty; learn from the span since the last anchor."""
        state = self.state
        moved_in, moved_out = state.anchor_ah_in, state.anchor_ah_out
        if state.anchor is not None and state.anchor != anchor:
            # Full to empty, or empty to full: the net charge moved is the
            # usable capacity.
            net = moved_out - moved_in * state.efficiency
            self._learn_capacity(abs(net))
        elif (
            state.anchor == anchor
            and moved_in >= MIN_LEARNING_FRACTION * state.capacity_ah
        ):
            # Full to full (or empty to empty): what came out over what
            # went in is the coulombic efficiency.
            measured = moved_out / moved_in
            if 0.85 <= measured <= 1.0:
                state.efficiency += LEARNING_RATE * (measured - state.efficiency)
        state.soc = 1.0 if anchor == "full" else 0.0
        state.witness_time = now.isoformat()
        state.witness_soc = state.soc
        state.witness_net_ah = 0.0
        state.uncertainty = ANCHOR_UNCERTAINTY
        state.source = anchor
        state.anchor = anchor
        state.anchor_ah_in = state.anchor_ah_out = 0.0

    def _witness_rest(
        self,
        now: datetime,
        cell_v: float,
        current: float,
        idle: bool,
        temperature_c: float | None,
    ) -> None:
        """At a settled rest, learn the offset and weigh the OCV's SOC.

        Noise makes single samples useless for telling whether the voltage
        still relaxes; the means of two consecutive half-relaxation segments
        are compared instead.
        """
        state = self.state
        limits = self.limits
        if abs(current) > limits.rest_current_a:
            state.rest_since = state.segment_since = None
            state.previous_segment_voltage = None
            state.rest_done = False
            return
        if state.rest_since is None:
            state.rest_since = state.segment_since = now.isoformat()
            state.segment_voltage_sum, state.segment_samples = 0.0, 0
            state.rest_current_sum, state.rest_samples = 0.0, 0
            state.rest_idle = True
        state.segment_voltage_sum += cell_v
        state.segment_samples += 1
        state.rest_current_sum += current + state.offset_a
        state.rest_samples += 1
        state.rest_idle = state.rest_idle and idle
        model = CELL_MODELS[limits.chemistry]
        assert state.segment_since is not None
        segment = now - datetime.fromisoformat(state.segment_since)
        if state.rest_done or segment.total_seconds() < model.relaxation_s / 2:
            return
        mean_v = state.segment_voltage_sum / state.segment_samples
        previous = state.previous_segment_voltage
        state.previous_segment_voltage = mean_v
        state.segment_since = now.isoformat()
        state.segment_voltage_sum, state.segment_samples = 0.0, 0
        if previous is None or abs(mean_v - previous) > SETTLED_VOLTAGE_DRIFT:
            return
        state.rest_done = True
        if state.rest_idle:
            # Commanded idle all along: what the sensor read is its offset
            # (and the inverter's standby draw, which max_offset_a bounds).
            self._learn_offset(state.rest_current_sum / state.rest_samples)
        if temperature_c is not None and temperature_c < 5:
            # The tables hold at room temperature; a cold cell's voltage
            # would pull the SOC the wrong way.
            return
        self._weigh_rest_voltage(now, mean_v, current)

    def _learn_offset(self, measured_a: float) -> None:
        """Move the offset towards a measurement, within what may be believed."""
        state = self.state
        learned = state.offset_a + LEARNING_RATE * (measured_a - state.offset_a)
        limit = self.limits.max_offset_a
        state.offset_a = min(max(learned, -limit), limit)

    def _weigh_rest_voltage(self, now: datetime, cell_v: float, current: float) -> None:
        """Blend the OCV's SOC into the count by their uncertainties."""
        state = self.state
        assert state.soc is not None
        chemistry = self.limits.chemistry
        model = CELL_MODELS[chemistry]
        # A cell rests above its mean curve after charging and below it
        # after discharging (hysteresis, marked on LFP): take half the
        # band off in the direction it came from.
        hysteresis = 0.5 * model.rest_voltage_uncertainty * state.last_direction
        ocv = cell_v - current * self.limits.cell_resistance_ohm - hysteresis
        voltage_soc = soc_from_ocv(chemistry, ocv)
        voltage_sigma = soc_uncertainty_from_voltage(chemistry, voltage_soc)
        gain = state.uncertainty**2 / (state.uncertainty**2 + voltage_sigma**2)
        state.soc = min(max(state.soc + gain * (voltage_soc - state.soc), 0.0), 1.0)
        state.uncertainty = math.sqrt(1 - gain) * state.uncertainty
        if gain > 0.5:
            state.source = "rest"
        if voltage_sigma <= WITNESS_SIGMA:
            self._learn_between_witnesses(now, voltage_soc)

    def _learn_between_witnesses(self, now: datetime, witness_soc: float) -> None:
        """Compare the charge counted since the last witness with what both say.

        A discrepancy over a span with little net charge is the sensor's
        offset (it grows with time); over a short span with much net charge,
        it is the capacity (it grows with the charge).
        """
        state = self.state
        if state.witness_time is not None and state.witness_soc is not None:
            hours = (
                now - datetime.fromisoformat(state.witness_time)
            ).total_seconds() / 3600
            net = state.witness_net_ah
            span = witness_soc - state.witness_soc
            if (
                hours >= MIN_DRIFT_HOURS
                and abs(net) < MAX_DRIFT_NET_FRACTION * state.capacity_ah
            ):
                # Counted more than the witnesses saw: the sensor reads high.
                self._learn_offset(
                    state.offset_a + (net - span * state.capacity_ah) / hours
                )
            elif abs(span) >= MIN_CAPACITY_SPAN and hours <= MAX_CAPACITY_HOURS:
                self._learn_capacity(net / span)
        state.witness_time = now.isoformat()
        state.witness_soc = witness_soc
        state.witness_net_ah = 0.0

    def _learn_capacity(self, measured_ah: float) -> None:
        """Move the capacity towards a measurement that is plausible."""
        nameplate = self.limits.nameplate_ah
        if MIN_LEARNING_FRACTION * nameplate <= measured_ah <= 1.2 * nameplate:
            state = self.state
            state.capacity_ah += LEARNING_RATE * (measured_ah - state.capacity_ah)

    def _reject(self, reason: str) -> None:
        """Count a sample that was not used."""
        self.state.rejected[reason] = self.state.rejected.get(reason, 0) + 1


def _offset_sigma(state: CounterState) -> float:
    """Return the uncertainty of the current sensor's offset, in amps.

    Until a rest has taught the offset it may be anything up to the prior;
    afterwards what remains is a fraction of it.
    """
    return OFFSET_UNCERTAINTY_A if state.offset_a == 0 else OFFSET_UNCERTAINTY_A / 4


def counter_state_from(data: Any) -> CounterState:
    """Rebuild a counter's state from saved data; raise ValueError/TypeError if unusable."""
    if not isinstance(data, dict):
        raise TypeError("counter state is not a mapping")
    known = CounterState.__dataclass_fields__
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"unknown counter fields {sorted(unknown)}")
    state = CounterState(**data)
    numbers = (state.uncertainty, state.capacity_ah, state.efficiency, state.offset_a)
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in numbers):
        raise ValueError("counter state holds a value that is not a finite number")
    if state.soc is not None and not (
        isinstance(state.soc, int | float) and 0 <= state.soc <= 1
    ):
        raise ValueError(f"saved SOC {state.soc!r} is not within 0..1")
    if state.capacity_ah <= 0 or not 0 < state.efficiency <= 1:
        raise ValueError("saved capacity or efficiency is out of range")
    for stamp in (
        state.last_time,
        state.rest_since,
        state.segment_since,
        state.witness_time,
    ):
        if stamp is not None:
            datetime.fromisoformat(stamp)
    return state
