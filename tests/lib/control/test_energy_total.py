"""Tests of the energy count a lifetime sensor shows: implausible reads held back."""

from custom_components.energy_orchestrator.lib.control.energy_total import (
    CONFIRM_DROP_S,
    CountState,
    EnergyTotal,
)

POLL_S = 5.0
METER_WH = 4_321_000.0


def _polls(
    total: EnergyTotal, counts: list[float], start: float = 0.0
) -> list[float | None]:
    """Feed counts one poll apart; return what was shown after each."""
    return [total.add(count, start + i * POLL_S) for i, count in enumerate(counts)]


def test_a_plausible_rise_is_shown() -> None:
    """A count rising as fast as a house draws is shown read by read."""
    total = EnergyTotal()
    shown = _polls(total, [METER_WH, METER_WH + 10, METER_WH + 25])
    assert shown == [METER_WH, METER_WH + 10, METER_WH + 25]


def test_one_spike_is_never_shown_nor_kept() -> None:
    """50,000 kWh for one read, then the meter's own count: the spike never shows."""
    total = EnergyTotal()
    shown = _polls(total, [METER_WH, 50_000_000.0, METER_WH + 5, METER_WH + 10])
    assert shown == [METER_WH, METER_WH, METER_WH + 5, METER_WH + 10]
    assert total.state is CountState.SHOWN


def test_a_jump_is_shown_once_following_reads_confirm_it() -> None:
    """A count that jumped and rises on from there for a minute is taken."""
    total = EnergyTotal()
    total.add(METER_WH, 0.0)
    jumped = METER_WH + 500_000.0
    shown = _polls(total, [jumped + i for i in range(14)], start=POLL_S)
    assert shown[0] == METER_WH
    assert total.state is CountState.SHOWN
    assert shown[-1] == jumped + 13


def test_a_long_silence_allows_a_larger_rise() -> None:
    """After an hour of silence, 50 kWh more is within what 100 kW allows."""
    total = EnergyTotal()
    total.add(METER_WH, 0.0)
    assert total.add(METER_WH + 50_000, 3600.0) == METER_WH + 50_000


def test_a_lower_count_is_held_and_a_replacement_awaits_the_user() -> None:
    """A meter far lower for ten minutes is a replacement, shown once confirmed."""
    total = EnergyTotal()
    total.add(METER_WH, 0.0)
    reads = int(CONFIRM_DROP_S / POLL_S) + 2
    shown = _polls(total, [12_000.0 + i for i in range(reads)], start=POLL_S)
    assert set(shown) == {METER_WH}
    assert total.state is CountState.REPLACED
    total.accept_replacement()
    assert total.shown_wh == 12_000.0 + reads - 1
    assert total.add(12_000.0 + reads, reads * POLL_S + POLL_S) == 12_000.0 + reads


def test_a_brief_drop_is_no_replacement() -> None:
    """A meter answering 0 for a few polls (a brown-out) stays at its count."""
    total = EnergyTotal()
    shown = _polls(total, [METER_WH, 0.0, 0.0, METER_WH + 2])
    assert shown == [METER_WH, METER_WH, METER_WH, METER_WH + 2]
    assert total.state is CountState.SHOWN


def test_the_old_meter_back_clears_a_suspected_replacement() -> None:
    """A count back on the old level is shown, and the replacement forgotten."""
    total = EnergyTotal()
    total.add(METER_WH, 0.0)
    reads = int(CONFIRM_DROP_S / POLL_S) + 2
    _polls(total, [100.0] * reads, start=POLL_S)
    assert total.state is CountState.REPLACED
    assert total.add(METER_WH + 1, (reads + 1) * POLL_S) == METER_WH + 1
    assert total.state is CountState.SHOWN


def test_a_restored_count_without_time_takes_any_rise() -> None:
    """After a restart with no time known, the first higher read is shown."""
    total = EnergyTotal()
    total.restore(METER_WH, None)
    assert total.add(METER_WH + 900_000, 10.0) == METER_WH + 900_000


def test_a_restored_count_with_time_still_holds_a_spike() -> None:
    """After a restart the spike is judged against the count and time restored."""
    total = EnergyTotal()
    total.restore(METER_WH, 0.0)
    assert total.add(50_000_000.0, 60.0) == METER_WH


def test_not_a_count_is_ignored() -> None:
    """NaN or a negative read shows the count shown before."""
    total = EnergyTotal()
    total.add(METER_WH, 0.0)
    assert total.add(float("nan"), 5.0) == METER_WH
    assert total.add(-1.0, 10.0) == METER_WH


def test_a_read_judged_twice_counts_once() -> None:
    """A held read handed over again (kept between slow polls) confirms nothing."""
    total = EnergyTotal()
    total.add(METER_WH, 0.0)
    for _ in range(20):
        total.add(METER_WH + 900_000, 5.0)
    assert total.state is CountState.JUMP_HELD
    assert total.shown_wh == METER_WH
