"""The SOC estimator: counted charge, corrected by what the battery tells at rest.

Counting alone drifts: a current sensor's offset integrates into amp-hours
every hour of every day, and the capacity it divides by is a guess until
learned. So the estimator is a small Kalman filter over three unknowns: the
SOC, the capacity and the sensor's offset, each with its one-sigma
uncertainty and the covariances between them. The capacity is counted in
the current sensor's amp-hours: a sensor that reads 1 % high and a battery
1 % larger move the count alike, so the sensor's gain is learned as part of
the capacity (and the state of health carries it).

Counting (trapezoid over the samples, an efficiency on charge) moves the SOC
and widens its uncertainty: by the offset's uncertainty times the time, and
by the capacity's times the net charge, and the covariances remember how
much of the SOC's doubt each of the two put there. Three witnesses measure
the SOC:

- full: absorb voltage with the current tapered below the tail current;
- empty: the cut-off voltage (corrected for the sag under load);
- rest: after the current has been near zero long enough for the voltage to
  relax, the open-circuit voltage gives a SOC of its own, weighed against
  the count by both uncertainties. On LFP's plateau that weight is small, on
  the steep ends large.

Only a witness that pins the SOC closely (a rest on a steep part of the
curve, full, empty) teaches, and then through the covariances it corrects
what made the count stray: the capacity when much charge was counted since
the last one (two rests far apart on LFP's steep ends teach it without a
full-to-empty cycle), the offset when much time passed. A rest on LFP's
plateau moves the SOC a little and teaches nothing: its table is never
quite the battery's curve, and the same error at every rest would be
learned as a capacity. A start (the BMS's SOC, the voltage's, the user's)
is a guess: the first witness that pins the SOC takes it as one and
teaches nothing from the count since, so a start told wrong is corrected
there, not learned. A witness further off the count than three combined
sigmas (after a gap) widens the SOC's doubt before it is weighed. Full to
full teaches the coulombic efficiency, a rest with the battery commanded
idle measures the offset, and a rest that lasts witnesses again every six
hours. Nothing here reads a clock: time comes with every sample.
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
# A 3 x 3 covariance over (SOC, capacity in Ah, offset in A).
type Covariance = list[list[float]]

SOC, CAPACITY, OFFSET = 0, 1, 2

# A gap longer than this is not integrated: what flowed then is unknown, and
# holding the last current over an hour would be a guess.
MAX_GAP = timedelta(minutes=15)
# Samples closer than this to the previous one add nothing and are skipped.
MIN_STEP = timedelta(milliseconds=100)
# What the capacity may be before one is learned, one sigma, as a share of
# the nameplate: cells below their rating, ageing, the sensor's gain.
CAPACITY_UNCERTAINTY = 0.06
# What an offset may be believed to be, one sigma, before one is learned.
OFFSET_UNCERTAINTY_A = 0.2
# How far the capacity (share of the nameplate) and the offset (A) may wander
# in a day, one sigma: ageing, temperature. Keeps the filter learning.
CAPACITY_DRIFT_PER_DAY = 0.002
OFFSET_DRIFT_A_PER_DAY = 0.01
# What the filter does not model (charge and discharge seen with different
# gains, an efficiency still wrong) as a share of each amp-hour counted; it
# adds to the SOC's uncertainty as a bias would, not as noise.
UNMODELLED_PER_AH = 0.004
# An idle inverter still draws its standby from the battery; what a rest
# measures is the offset only to this much, one sigma.
IDLE_CURRENT_UNCERTAINTY_A = 0.1
# The uncertainty of a full or empty anchor, and of a SOC the user gives.
ANCHOR_UNCERTAINTY = 0.01
# A rest witnesses the SOC by itself, and teaches the capacity and the
# offset, when the curve pins it this closely: LFP below about 25 % and above
# about 90 %, NMC everywhere.
WITNESS_SIGMA = 0.035
# Part of a rest witness's doubt is the curve's (the table is not this
# battery's own): it is the same at every rest at one SOC, so many rests
# there leave the SOC no surer than this share of one.
CURVE_SHARE = 0.7
# The knee of a real cell's curve sits a point or two off any table's: even
# where the curve is steepest, a rest says the SOC no closer than this.
MIN_REST_SIGMA = 0.015
# A start (the BMS, the voltage, the user) is a guess until a witness
# confirms it: the first one weighs it as no surer than this.
START_UNCERTAINTY = 0.1
# A witness further from the count than this many combined sigmas shows the
# count was surer than it had a right to be.
INCONSISTENT_SIGMAS = 3.0
# The learned capacity stays within these shares of the nameplate.
MIN_CAPACITY_FRACTION = 0.5
MAX_CAPACITY_FRACTION = 1.2
# A full-to-full span teaches the efficiency when this share moved.
MIN_LEARNING_FRACTION = 0.5
# The learned efficiency moves this far towards each new measurement.
LEARNING_RATE = 0.3
# A cell crosses to the other branch of its hysteresis once this share of
# its capacity has flowed the other way.
HYSTERESIS_SWING = 0.02
# The time constant of the smoothed current a rest is judged by: a real
# current of ten times the rest current ends a rest within seconds, sensor
# noise does not.
SMOOTHING_S = 60.0
# A rest that goes on witnesses again after this long.
REST_WITNESS_INTERVAL = timedelta(hours=6)
# How much the mean voltage (per cell) may move between two halves of a
# relaxation time for the rest to count as settled.
SETTLED_VOLTAGE_DRIFT = 0.003


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
    # In the current sensor's amp-hours (its gain included).
    capacity_ah: float = 0.0
    efficiency: float = 1.0
    offset_a: float = 0.0
    # One sigma of the capacity and the offset, and the covariances of the
    # three unknowns (SOC as a fraction, capacity in Ah, offset in A).
    capacity_uncertainty_ah: float = 0.0
    offset_uncertainty_a: float = OFFSET_UNCERTAINTY_A
    soc_capacity_covariance: float = 0.0
    soc_offset_covariance: float = 0.0
    capacity_offset_covariance: float = 0.0
    last_time: str | None = None
    last_current: float | None = None
    # The current over the last minute or so: a rest is judged by it, so one
    # noisy sample does not end it.
    smoothed_current: float = 0.0
    # The rest in progress: since when, and what it has measured so far.
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
    # Which way the charge last went (1 in, -1 out), and the charge counted
    # the other way since.
    last_direction: int = 0
    reversal_ah: float = 0.0
    # Whether a witness has confirmed the SOC since it was started or
    # calibrated (full, empty, a rest on a steep part, or any rest that
    # outweighed the start): only a count from a witness teaches.
    witnessed: bool = False
    # The last full or empty anchor, and the charge moved since (full to
    # full teaches the efficiency).
    anchor: str | None = None
    anchor_ah_in: float = 0.0
    anchor_ah_out: float = 0.0
    rejected: dict[str, int] = field(default_factory=dict)

    def covariance(self) -> Covariance:
        """Return the covariance of (SOC, capacity, offset)."""
        soc_cap, soc_off = self.soc_capacity_covariance, self.soc_offset_covariance
        cap_off = self.capacity_offset_covariance
        return [
            [self.uncertainty**2, soc_cap, soc_off],
            [soc_cap, self.capacity_uncertainty_ah**2, cap_off],
            [soc_off, cap_off, self.offset_uncertainty_a**2],
        ]

    def set_covariance(self, matrix: Covariance) -> None:
        """Keep a covariance, its variances bounded to what can be meant."""
        self.uncertainty = math.sqrt(min(max(matrix[SOC][SOC], 0.0), 1.0))
        self.capacity_uncertainty_ah = math.sqrt(max(matrix[CAPACITY][CAPACITY], 0.0))
        self.offset_uncertainty_a = math.sqrt(max(matrix[OFFSET][OFFSET], 0.0))
        self.soc_capacity_covariance = matrix[SOC][CAPACITY]
        self.soc_offset_covariance = matrix[SOC][OFFSET]
        self.capacity_offset_covariance = matrix[CAPACITY][OFFSET]


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


def new_counter_state(limits: CounterLimits) -> CounterState:
    """Return the state of a counter that knows nothing yet but the nameplate."""
    return CounterState(
        capacity_ah=limits.nameplate_ah,
        capacity_uncertainty_ah=CAPACITY_UNCERTAINTY * limits.nameplate_ah,
        efficiency=CELL_MODELS[limits.chemistry].coulombic_efficiency,
    )


class CoulombCounter:
    """Counts charge in and out and keeps the SOC honest. See module doc."""

    def __init__(
        self, limits: CounterLimits, state: CounterState | None = None
    ) -> None:
        """Start from a saved state, or from nothing (the first sample decides)."""
        self.limits = limits
        self.state = state or new_counter_state(limits)

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
        """Take a SOC from a witness that knows nothing of the past.

        What was learned of the capacity and the offset stays; the new SOC
        owes nothing to them.
        """
        state = self.state
        state.soc = min(max(soc, 0.0), 1.0)
        matrix = state.covariance()
        matrix[SOC] = [uncertainty**2, 0.0, 0.0]
        matrix[CAPACITY][SOC] = matrix[OFFSET][SOC] = 0.0
        state.set_covariance(matrix)
        state.source = source
        state.witnessed = False

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
        if last is None or now - last > MAX_GAP:
            state.smoothed_current = current
        if last is not None:
            seconds = (now - last).total_seconds()
            if now - last > MAX_GAP:
                self._reject(Rejection.GAP)
                self._widen_for_gap(seconds / 3600)
            else:
                self._count(current, seconds)
                state.smoothed_current += (1 - math.exp(-seconds / SMOOTHING_S)) * (
                    current - state.smoothed_current
                )
        state.last_time = now.isoformat()
        state.last_current = current
        if state.soc is None:
            return
        if voltage_v is not None:
            cell_v = voltage_v / self.limits.cells_in_series
            self._witness_full_or_empty(cell_v, current)
            self._witness_rest(now, cell_v, current, idle, temperature_c)

    def _count(self, current: float, seconds: float) -> None:
        """Integrate the current over one interval (trapezoid); spread the doubt."""
        state = self.state
        previous = state.last_current if state.last_current is not None else current
        hours = seconds / 3600
        ah = (previous + current) / 2 * hours
        if ah > 0:
            state.ah_charged += ah
            state.anchor_ah_in += ah
            efficiency = state.efficiency
        else:
            state.ah_discharged -= ah
            state.anchor_ah_out -= ah
            efficiency = 1.0
        stored = ah * efficiency
        if abs(current) > self.limits.rest_current_a:
            # What a resting battery's sensor reads (its offset) is not flow.
            self._follow_direction(ah)
        if state.soc is None:
            return
        capacity = state.capacity_ah
        counted = state.soc + stored / capacity
        state.soc = min(max(counted, 0.0), 1.0)
        # How the SOC just moved with the capacity and the offset; nothing
        # when it is held at empty or full.
        moved = state.soc == counted
        self._predict(
            -stored / capacity**2 if moved else 0.0,
            -efficiency * hours / capacity if moved else 0.0,
            hours,
            UNMODELLED_PER_AH * abs(stored) / capacity,
        )

    def _follow_direction(self, ah: float) -> None:
        """Keep which way the charge last went, by charge moved, not by a sample.

        A rested cell shows the hysteresis branch of the way it came: it
        crosses to the other branch only after a few percent have flowed
        back, and one noisy sample must not make it seem to.
        """
        state = self.state
        against = -ah * state.last_direction if state.last_direction else abs(ah)
        state.reversal_ah = max(state.reversal_ah + against, 0.0)
        if state.reversal_ah >= HYSTERESIS_SWING * state.capacity_ah:
            state.last_direction = 1 if ah > 0 else -1
            state.reversal_ah = 0.0

    def _predict(
        self, by_capacity: float, by_offset: float, hours: float, bias: float
    ) -> None:
        """Carry the covariance through one counted interval.

        ``by_capacity`` and ``by_offset`` are how the SOC moved with each
        (the Jacobian's row); the capacity and the offset wander a little;
        ``bias`` widens the SOC's sigma as an unmodelled error would.
        """
        state = self.state
        p = state.covariance()
        soc_soc = (
            p[SOC][SOC]
            + 2 * by_capacity * p[SOC][CAPACITY]
            + 2 * by_offset * p[SOC][OFFSET]
            + by_capacity**2 * p[CAPACITY][CAPACITY]
            + 2 * by_capacity * by_offset * p[CAPACITY][OFFSET]
            + by_offset**2 * p[OFFSET][OFFSET]
        )
        soc_cap = (
            p[SOC][CAPACITY]
            + by_capacity * p[CAPACITY][CAPACITY]
            + by_offset * p[CAPACITY][OFFSET]
        )
        soc_off = (
            p[SOC][OFFSET]
            + by_capacity * p[CAPACITY][OFFSET]
            + by_offset * p[OFFSET][OFFSET]
        )
        days = hours / 24
        p[SOC][SOC] = (math.sqrt(max(soc_soc, 0.0)) + bias) ** 2
        p[SOC][CAPACITY] = p[CAPACITY][SOC] = soc_cap
        p[SOC][OFFSET] = p[OFFSET][SOC] = soc_off
        p[CAPACITY][CAPACITY] += (
            CAPACITY_DRIFT_PER_DAY * self.limits.nameplate_ah
        ) ** 2 * days
        p[OFFSET][OFFSET] += OFFSET_DRIFT_A_PER_DAY**2 * days
        state.set_covariance(p)

    def _widen_for_gap(self, hours: float) -> None:
        """Widen the SOC's doubt by the unknown charge of a gap.

        The outputs rest when Home Assistant stops, so what flowed is taken
        as at most an idle battery's offset and standby over the gap.
        """
        self._predict(
            0.0, 0.0, hours, OFFSET_UNCERTAINTY_A * hours / self.state.capacity_ah
        )

    def _witness_full_or_empty(self, cell_v: float, current: float) -> None:
        """Anchor at full (absorb voltage, tail current) or empty (cut-off)."""
        limits = self.limits
        # The voltage the cell would show without the current through it.
        relaxed_v = cell_v - current * limits.cell_resistance_ohm
        if (
            cell_v >= limits.voltage_max - 0.02
            and 0 <= current <= limits.tail_current_a
            and not self._anchored_at("full")
        ):
            self._anchor("full")
        elif (
            relaxed_v <= limits.voltage_min
            and current <= 0
            and not self._anchored_at("empty")
        ):
            self._anchor("empty")

    def _anchored_at(self, anchor: Anchor) -> bool:
        """Return whether the battery sits at this anchor since it was set.

        Sitting at full for an hour is one anchor, not one per sample; a few
        percent of charge moved since makes the next one count.
        """
        state = self.state
        moved = state.anchor_ah_in + state.anchor_ah_out
        return state.anchor == anchor and moved < 0.03 * state.capacity_ah

    def _anchor(self, anchor: Anchor) -> None:
        """Take full or empty as a witness; full to full teaches the efficiency."""
        state = self.state
        moved_in, moved_out = state.anchor_ah_in, state.anchor_ah_out
        if (
            state.anchor == anchor
            and moved_in >= MIN_LEARNING_FRACTION * state.capacity_ah
        ):
            # Full to full (or empty to empty): what came out over what
            # went in is the coulombic efficiency.
            measured = moved_out / moved_in
            if 0.85 <= measured <= 1.0:
                state.efficiency += LEARNING_RATE * (measured - state.efficiency)
        soc = 1.0 if anchor == "full" else 0.0
        self._witness(soc, ANCHOR_UNCERTAINTY)
        # Full is 100 % by definition, whatever the count said.
        state.soc = soc
        state.source = anchor
        state.anchor = anchor
        state.anchor_ah_in = state.anchor_ah_out = 0.0

    def _witness(self, soc: float, sigma: float) -> float:
        """Weigh a SOC a witness measured; return its weight.

        Only a witness that pins the SOC closely teaches the capacity and the
        offset, and only when the count it judges began at another witness:
        a count from a start (a guess) or judged by LFP's plateau (a curve
        that is never quite the battery's) would teach them its own errors.
        The first witness after a start takes that start as a guess.
        """
        state = self.state
        before = state.uncertainty
        steep = sigma <= WITNESS_SIGMA
        if steep and not state.witnessed:
            matrix = state.covariance()
            matrix[SOC][SOC] = max(matrix[SOC][SOC], START_UNCERTAINTY**2)
            state.set_covariance(matrix)
        weight = self._measure(SOC, soc, sigma, teaches=steep and state.witnessed)
        # A steep witness confirms the SOC, and so does one that outweighed
        # the start.
        state.witnessed = state.witnessed or steep or weight > 0.5
        # Many rests at one SOC are no surer than the curve there; none
        # makes the SOC less sure than it was.
        state.uncertainty = max(state.uncertainty, min(before, CURVE_SHARE * sigma))
        return weight

    def _measure(
        self, which: int, measured: float, sigma: float, *, teaches: bool = True
    ) -> float:
        """Weigh a measurement of the SOC or the offset; return its weight.

        A one-dimensional Kalman update of the three unknowns: the SOC (or
        offset) moves towards the measurement by both uncertainties, and the
        others by how they covary with it (not at all unless ``teaches``). A
        SOC measured further off than INCONSISTENT_SIGMAS first widens the
        SOC's doubt to the difference.
        """
        state = self.state
        assert state.soc is not None
        values = [state.soc, state.capacity_ah, state.offset_a]
        p = state.covariance()
        innovation = measured - values[which]
        spread = p[which][which] + sigma**2
        if which == SOC and innovation**2 > INCONSISTENT_SIGMAS**2 * spread:
            p[SOC][SOC] += innovation**2 - spread
            spread = innovation**2
        pivot = list(p[which])
        if teaches:
            gains = [pivot[row] / spread for row in range(3)]
            for row in range(3):
                for column in range(3):
                    p[row][column] -= gains[row] * pivot[column]
        else:
            # Only the measured unknown moves; its doubt and its covariances
            # with the others shrink alike, the others' doubt stays.
            gains = [0.0, 0.0, 0.0]
            gains[which] = pivot[which] / spread
            for other in range(3):
                p[which][other] *= 1 - gains[which]
                p[other][which] = p[which][other]
            p[which][which] *= 1 - gains[which]
        for row in range(3):
            values[row] += gains[row] * innovation
        nameplate = self.limits.nameplate_ah
        state.soc = min(max(values[SOC], 0.0), 1.0)
        state.capacity_ah = min(
            max(values[CAPACITY], MIN_CAPACITY_FRACTION * nameplate),
            MAX_CAPACITY_FRACTION * nameplate,
        )
        limit = self.limits.max_offset_a
        state.offset_a = min(max(values[OFFSET], -limit), limit)
        state.set_covariance(p)
        return gains[which]

    def _witness_rest(
        self,
        now: datetime,
        cell_v: float,
        current: float,
        idle: bool,
        temperature_c: float | None,
    ) -> None:
        """At a settled rest, measure the offset and weigh the OCV's SOC.

        Noise makes single samples useless for telling whether the voltage
        still relaxes; the means of two consecutive half-relaxation segments
        are compared instead.
        """
        state = self.state
        limits = self.limits
        if abs(state.smoothed_current) > limits.rest_current_a:
            state.rest_since = state.segment_since = None
            state.previous_segment_voltage = None
            state.rest_done = False
            return
        if state.rest_since is None:
            state.rest_since = now.isoformat()
            self._measure_rest_anew(now)
        assert state.segment_since is not None
        segment = now - datetime.fromisoformat(state.segment_since)
        if state.rest_done:
            if segment < REST_WITNESS_INTERVAL:
                return
            # A long rest speaks again: the count may have strayed since.
            self._measure_rest_anew(now)
            segment = timedelta(0)
        state.segment_voltage_sum += cell_v
        state.segment_samples += 1
        state.rest_current_sum += current + state.offset_a
        state.rest_samples += 1
        state.rest_idle = state.rest_idle and idle
        if segment.total_seconds() < CELL_MODELS[limits.chemistry].relaxation_s / 2:
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
            # and the inverter's standby draw.
            self._measure(
                OFFSET,
                state.rest_current_sum / state.rest_samples,
                IDLE_CURRENT_UNCERTAINTY_A,
            )
        if temperature_c is not None and temperature_c < 5:
            # The tables hold at room temperature; a cold cell's voltage
            # would pull the SOC the wrong way.
            return
        self._weigh_rest_voltage(mean_v, state.smoothed_current)

    def _measure_rest_anew(self, now: datetime) -> None:
        """Start measuring a rest's voltage and current from this sample on."""
        state = self.state
        state.segment_since = now.isoformat()
        state.segment_voltage_sum, state.segment_samples = 0.0, 0
        state.previous_segment_voltage = None
        state.rest_current_sum, state.rest_samples = 0.0, 0
        state.rest_idle = True
        state.rest_done = False

    def _weigh_rest_voltage(self, cell_v: float, current: float) -> None:
        """Weigh the OCV's SOC against the count by their uncertainties."""
        chemistry = self.limits.chemistry
        model = CELL_MODELS[chemistry]
        # A cell rests above its mean curve after charging and below it
        # after discharging (hysteresis, marked on LFP): take half the
        # band off in the direction it came from.
        hysteresis = 0.5 * model.rest_voltage_uncertainty * self.state.last_direction
        ocv = cell_v - current * self.limits.cell_resistance_ohm - hysteresis
        voltage_soc = soc_from_ocv(chemistry, ocv)
        weight = self._witness(
            voltage_soc,
            max(soc_uncertainty_from_voltage(chemistry, voltage_soc), MIN_REST_SIGMA),
        )
        if weight > 0.5:
            self.state.source = "rest"

    def _reject(self, reason: str) -> None:
        """Count a sample that was not used."""
        self.state.rejected[reason] = self.state.rejected.get(reason, 0) + 1


def counter_state_from_v1(data: Any, nameplate_ah: float) -> dict[str, Any]:
    """Return a counter state saved by the first layout in the present one.

    The first layout kept the last witness instead of covariances. What it
    learned (capacity, efficiency, offset) stays; its capacity was learned
    only from full to empty, so it is as uncertain as a new one, and its
    offset as sure as the old estimator took a learned one to be.
    """
    if not isinstance(data, dict):
        raise TypeError("counter state is not a mapping")
    migrated = {
        key: value
        for key, value in data.items()
        if key not in {"witness_time", "witness_soc", "witness_net_ah"}
    }
    migrated["witnessed"] = (
        data.get("witness_time") is not None or data.get("anchor") is not None
    )
    migrated["capacity_uncertainty_ah"] = CAPACITY_UNCERTAINTY * nameplate_ah
    migrated["offset_uncertainty_a"] = (
        OFFSET_UNCERTAINTY_A if not data.get("offset_a") else OFFSET_UNCERTAINTY_A / 4
    )
    return migrated


def counter_state_from(data: Any) -> CounterState:
    """Rebuild a counter's state from saved data; raise ValueError/TypeError if unusable."""
    if not isinstance(data, dict):
        raise TypeError("counter state is not a mapping")
    known = CounterState.__dataclass_fields__
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"unknown counter fields {sorted(unknown)}")
    state = CounterState(**data)
    numbers = (
        state.uncertainty,
        state.capacity_ah,
        state.efficiency,
        state.offset_a,
        state.capacity_uncertainty_ah,
        state.offset_uncertainty_a,
        state.soc_capacity_covariance,
        state.soc_offset_covariance,
        state.capacity_offset_covariance,
    )
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in numbers):
        raise ValueError("counter state holds a value that is not a finite number")
    if state.soc is not None and not (
        isinstance(state.soc, int | float) and 0 <= state.soc <= 1
    ):
        raise ValueError(f"saved SOC {state.soc!r} is not within 0..1")
    if state.capacity_ah <= 0 or not 0 < state.efficiency <= 1:
        raise ValueError("saved capacity or efficiency is out of range")
    if (
        min(
            state.uncertainty, state.capacity_uncertainty_ah, state.offset_uncertainty_a
        )
        < 0
    ):
        raise ValueError("saved uncertainty is negative")
    for stamp in (state.last_time, state.rest_since, state.segment_since):
        if stamp is not None:
            datetime.fromisoformat(stamp)
    return state
