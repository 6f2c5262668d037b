"""``optimal`` of ``eo backtest-site`` by a dynamic program over the netting periods.

Where the site has switched loads only (no battery, no car, no adjustable
load, no demand charge, every run interruptible), the cost of a netting
period depends on nothing but the energy the loads draw in it, and each
load is a small automaton stepped every 5 minutes:

- its switch's *mode*: on or off and for how many steps (counted up to its
  minimum on or off time: a switch changes only once that time is served;
  off long ago before the scored days);
- its window's *progress* ``k``: how many steps at full power it has run in
  the open window (up to ``K``, the steps its need takes, the last one
  maybe partial): a load that is on draws its full power while ``k < K``,
  in the step reaching ``K`` what is left of the need, nothing after (its
  thermostat stops it); off, or outside its windows, nothing. A window
  must close with ``k = K`` (its need met); ``k`` is 0 between windows.

That is exactly what the mixed-integer program of ``site_optimal`` holds
and what the replay runs (``site_replay``): every schedule one allows is a
path of these automata and back. The states at the periods' edges (the
loads' modes and progress) carry all that the future depends on, and a
period's cost is its netted price of the base load less PV plus the
loads' energy: so the least cost from the start to each joint state at a
period's end is the least, over the joint states at its start and the
loads' ways through the period (each load's sequence of on/off per step
the minimum times allow), of that cost plus the period's. Bellman's
principle makes the least over the final states the optimum, exact (up to
floating point), with no gap: nothing is relaxed and nothing is left out.

The joint state space is the product of the loads' (modes times progress):
two loads at 15-minute netting have some 200,000 states. Past
``EXACT_STATE_LIMIT`` the mixed-integer program runs instead.
"""

from collections.abc import Iterator
from dataclasses import dataclass
import math

import numpy as np

# The dynamic program's joint states at most (the arrays it keeps per
# period's energy are of this size); past it, the mixed-integer program.
EXACT_STATE_LIMIT = 600_000
# Every this many periods the forward pass keeps its values, for the way back.
CHECKPOINT_EVERY = 16


@dataclass(frozen=True)
class SwitchedLoad:
    """One switched load as the dynamic program sees it (steps from the scored start)."""

    name: str
    step_wh: float
    on_steps: int
    off_steps: int
    # Each counted window: its first step, the step after its last, its need (Wh).
    windows: tuple[tuple[int, int, float], ...]

    @property
    def on_cap(self) -> int:
        """Return the on ages told apart (the minimum on time, at least 1)."""
        return max(self.on_steps, 1)

    @property
    def off_cap(self) -> int:
        """Return the off ages told apart (the minimum off time, at least 1)."""
        return max(self.off_steps, 1)

    @property
    def modes(self) -> int:
        """Return how many modes the switch has."""
        return self.on_cap + self.off_cap

    @property
    def progress(self) -> int:
        """Return how many values the window's progress takes."""
        return max((self.steps_for(need) for _, _, need in self.windows), default=0) + 1

    @property
    def states(self) -> int:
        """Return how many states the load has."""
        return self.modes * self.progress

    @property
    def start_state(self) -> int:
        """Return the state before the scored days: off long ago, nothing run."""
        return (self.modes - 1) * self.progress

    def steps_for(self, need_wh: float) -> int:
        """Return the steps a need takes (the last maybe partial)."""
        return math.ceil(need_wh / self.step_wh - 1e-9)

    def next_modes(self, mode: int) -> Iterator[tuple[int, int]]:
        """Yield (switch on or off in the step, the mode after it) from a mode."""
        if mode < self.on_cap:
            yield 1, min(mode + 1, self.on_cap - 1)
            if mode + 1 >= self.on_steps:
                yield 0, self.on_cap
        else:
            age = mode - self.on_cap + 1
            yield 0, self.on_cap + min(age, self.off_cap - 1)
            if age >= self.off_steps:
                yield 1, 0


@dataclass(frozen=True)
class Moves:
    """One load's ways through one period: from state, to state, energy, and how."""

    source: np.ndarray
    target: np.ndarray
    energy_wh: np.ndarray
    # Index into ``ways``: the on/off per step of the period.
    way: np.ndarray
    ways: list[tuple[int, ...]]


def _sequences(
    load: SwitchedLoad, mode: int, length: int
) -> Iterator[tuple[tuple[int, ...], int]]:
    """Yield every on/off sequence over ``length`` steps the minimum times allow, and the mode after."""
    stack: list[tuple[tuple[int, ...], int]] = [((), mode)]
    while stack:
        bits, current = stack.pop()
        if len(bits) == length:
            yield bits, current
            continue
        for bit, after in load.next_modes(current):
            stack.append(((*bits, bit), after))


class _Window:
    """Where each step of a period lies in the load's windows."""

    def __init__(self, load: SwitchedLoad, steps: list[int]) -> None:
        """Find each step's window (its need's steps and need), its first and last steps."""
        self.inside: list[tuple[int, float] | None] = []
        self.opens: list[bool] = []
        self.closes: list[bool] = []
        for step in steps:
            found = next(((b, e, n) for b, e, n in load.windows if b <= step < e), None)
            self.inside.append(
                None if found is None else (load.steps_for(found[2]), found[2])
            )
            self.opens.append(found is not None and step == found[0])
            self.closes.append(found is not None and step == found[1] - 1)

    def key(self, bits: tuple[int, ...]) -> tuple[int, ...]:
        """Return what of a sequence matters: its on steps per stretch of one window."""
        counts: list[int] = []
        running = 0
        for bit, inside, opens, closes in zip(
            bits, self.inside, self.opens, self.closes, strict=True
        ):
            if opens:
                counts.append(running)
                running = 0
            running += bit if inside is not None else 0
            if closes:
                counts.append(running)
                running = 0
        return (*counts, running)

    def run(
        self, load: SwitchedLoad, bits: tuple[int, ...], progress: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the progress after the sequence (-1 where a need is missed) and the energy."""
        done = progress.copy()
        energy = np.zeros(len(done))
        for bit, inside, closes in zip(bits, self.inside, self.closes, strict=True):
            if inside is None:
                continue
            need_steps, need_wh = inside
            valid = done >= 0
            if bit:
                after = np.minimum(done + 1, need_steps)
                drawn = np.minimum(after * load.step_wh, need_wh) - np.minimum(
                    done * load.step_wh, need_wh
                )
                energy = np.where(valid, energy + drawn, energy)
                done = np.where(valid, after, done)
            if closes:
                done = np.where(done == need_steps, 0, -1)
        return done, energy


def load_moves(load: SwitchedLoad, steps: list[int]) -> Moves:
    """Return every way of one load through a period, from each of its states."""
    window = _Window(load, steps)
    progress = np.arange(load.progress)
    sources: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    energies: list[np.ndarray] = []
    way_ids: list[np.ndarray] = []
    ways: list[tuple[int, ...]] = []
    for mode in range(load.modes):
        seen: set[tuple[int, tuple[int, ...]]] = set()
        for bits, after in _sequences(load, mode, len(steps)):
            key = (after, window.key(bits))
            if key in seen:
                continue
            seen.add(key)
            done, energy = window.run(load, bits, progress)
            valid = done >= 0
            sources.append(mode * load.progress + progress[valid])
            targets.append(after * load.progress + done[valid])
            energies.append(energy[valid])
            way_ids.append(np.full(int(valid.sum()), len(ways)))
            ways.append(bits)
    return Moves(
        np.concatenate(sources),
        np.concatenate(targets),
        np.concatenate(energies),
        np.concatenate(way_ids),
        ways,
    )


def _advance(
    axis: int, moves: Moves, totals: dict[float, np.ndarray]
) -> dict[float, np.ndarray]:
    """Move one load (``axis``) through the period, keeping the least value per energy drawn."""
    rounded = np.round(moves.energy_wh, 6)
    result: dict[float, np.ndarray] = {}
    for total, array in totals.items():
        for energy in np.unique(rounded):
            chosen = rounded == energy
            order = np.argsort(moves.target[chosen], kind="stable")
            source = moves.source[chosen][order]
            target = moves.target[chosen][order]
            edges = np.flatnonzero(np.r_[True, target[1:] != target[:-1]])
            least = np.minimum.reduceat(
                np.take(array, source, axis=axis), edges, axis=axis
            )
            key = round(total + float(energy), 6)
            if key not in result:
                result[key] = np.full(array.shape, np.inf)
            into = np.moveaxis(result[key], axis, 0)
            into[target[edges]] = np.minimum(
                into[target[edges]], np.moveaxis(least, axis, 0)
            )
    return result


@dataclass(frozen=True)
class Period:
    """One netting period: its steps, the base energy (load less PV, Wh), its prices."""

    steps: list[int]
    base_wh: float
    import_price: float
    export_price: float

    def cost(self, energy_wh: float) -> float:
        """Return the period's netted cost with the loads drawing ``energy_wh``."""
        net = (self.base_wh + energy_wh) / 1000
        return self.import_price * net if net >= 0 else self.export_price * net


def _step(values: np.ndarray, period: Period, moves: list[Moves]) -> np.ndarray:
    """Return the least cost of each joint state at the period's end."""
    totals: dict[float, np.ndarray] = {0.0: values}
    for axis, load_moves_ in enumerate(moves):
        totals = _advance(axis, load_moves_, totals)
    best = np.full(values.shape, np.inf)
    for energy, array in totals.items():
        np.minimum(best, array + period.cost(energy), out=best)
    return best


@dataclass
class ExactSchedule:
    """The optimum: its cost and each load's energy per step."""

    cost: float
    energy_wh: dict[str, list[float]]


def solve_exact(
    loads: list[SwitchedLoad], periods: list[Period], count: int
) -> ExactSchedule:
    """Return the least-cost schedule of the loads over ``count`` steps (see the module doc)."""
    shape = tuple(load.states for load in loads)
    moves = [[load_moves(load, p.steps) for load in loads] for p in periods]
    values = np.full(shape, np.inf)
    values[tuple(load.start_state for load in loads)] = 0.0
    kept: dict[int, np.ndarray] = {}
    for number, period in enumerate(periods):
        if number % CHECKPOINT_EVERY == 0:
            kept[number] = values
        values = _step(values, period, moves[number])
    cost = float(values.min())
    if not math.isfinite(cost):
        raise ValueError("no schedule meets every need")
    state = tuple(int(i) for i in np.unravel_index(int(values.argmin()), shape))
    energy = {load.name: [0.0] * count for load in loads}
    for begin in sorted(kept, reverse=True):
        stretch = [kept[begin]]
        for number in range(begin, min(begin + CHECKPOINT_EVERY, len(periods)) - 1):
            stretch.append(_step(stretch[-1], periods[number], moves[number]))
        for number in reversed(range(begin, begin + len(stretch))):
            state = _back(
                stretch[number - begin],
                periods[number],
                moves[number],
                state,
                loads=loads,
                energy=energy,
            )
    return ExactSchedule(cost, energy)


def _back(
    values: np.ndarray,
    period: Period,
    moves: list[Moves],
    state: tuple[int, ...],
    *,
    loads: list[SwitchedLoad],
    energy: dict[str, list[float]],
) -> tuple[int, ...]:
    """Return the state at the period's start on the best way to ``state``; book its energy."""
    options = [np.flatnonzero(m.target == s) for m, s in zip(moves, state, strict=True)]
    best: tuple[float, tuple[int, ...]] | None = None
    for chosen in _product(options):
        sources = tuple(int(m.source[i]) for m, i in zip(moves, chosen, strict=True))
        drawn = sum(float(m.energy_wh[i]) for m, i in zip(moves, chosen, strict=True))
        total = float(values[sources]) + period.cost(drawn)
        if best is None or total < best[0]:
            best = (total, chosen)
    assert best is not None
    for load, load_moves_, index in zip(loads, moves, best[1], strict=True):
        bits = load_moves_.ways[int(load_moves_.way[index])]
        source = int(load_moves_.source[index])
        _book(load, period.steps, bits, source % load.progress, energy[load.name])
    return tuple(int(m.source[i]) for m, i in zip(moves, best[1], strict=True))


def _product(options: list[np.ndarray]) -> Iterator[tuple[int, ...]]:
    """Yield every choice of one index from each option list."""
    if not options:
        yield ()
        return
    for first in options[0]:
        for rest in _product(options[1:]):
            yield (int(first), *rest)


def _book(
    load: SwitchedLoad,
    steps: list[int],
    bits: tuple[int, ...],
    progress: int,
    energy: list[float],
) -> None:
    """Book a load's energy per step along its way through a period."""
    window = _Window(load, steps)
    done = progress
    for step, bit, inside, closes in zip(
        steps, bits, window.inside, window.closes, strict=True
    ):
        if inside is None:
            continue
        need_steps, need_wh = inside
        if bit:
            after = min(done + 1, need_steps)
            energy[step] = min(after * load.step_wh, need_wh) - min(
                done * load.step_wh, need_wh
            )
            done = after
        if closes:
            done = 0
