"""The simulated battery: OCV curves, limits, losses and determinism."""

import itertools

import pytest

from eo_lab.sim.battery import (
    OCV_TABLES,
    SimBattery,
    cell_ocv,
)


def _quiet(**kwargs: float | str | int) -> SimBattery:
    """A battery without sensor error or self-discharge, unless asked."""
    settings: dict[str, float | str | int] = {
        "current_offset_a": 0.0,
        "current_noise_a": 0.0,
        "self_discharge_pct_per_month": 0.0,
    }
    settings.update(kwargs)
    return SimBattery(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("chemistry", ["lfp", "nmc"])
def test_ocv_rises_strictly_with_soc(chemistry: str) -> None:
    volts = [cell_ocv(chemistry, i / 1000) for i in range(1001)]  # type: ignore[arg-type]
    assert all(b > a for a, b in itertools.pairwise(volts))


def test_ocv_curves_look_like_their_chemistry() -> None:
    assert cell_ocv("lfp", 0.0) == 2.5
    assert cell_ocv("lfp", 1.0) == 3.6
    # LFP's plateau: the whole 20-90 % range within a few tens of millivolts.
    plateau = [cell_ocv("lfp", s / 100) for s in range(20, 91)]
    assert min(plateau) >= 3.2
    assert max(plateau) <= 3.35
    assert cell_ocv("nmc", 0.0) == 3.0
    assert cell_ocv("nmc", 1.0) == 4.2
    # Outside 0..1 the curve holds its end values.
    assert cell_ocv("lfp", -0.1) == 2.5
    assert cell_ocv("nmc", 1.1) == 4.2
    assert set(OCV_TABLES) == {"lfp", "nmc"}


def test_pack_voltages() -> None:
    battery = _quiet(cells_in_series=16, internal_resistance_ohm=0.02)
    assert battery.ocv == pytest.approx(16 * cell_ocv("lfp", 0.5))
    battery.step(50.0, 1.0)
    assert battery.terminal_voltage == pytest.approx(battery.ocv + 50.0 * 0.02)
    battery.step(-50.0, 1.0)
    assert battery.terminal_voltage == pytest.approx(battery.ocv - 50.0 * 0.02)
    assert battery.power == pytest.approx(-50.0 * battery.terminal_voltage)


def test_current_for_power_delivers_the_power() -> None:
    battery = _quiet()
    for power in (3000.0, -3000.0, 0.0):
        current = battery.current_for_power(power)
        delivered = current * (battery.ocv + current * battery.internal_resistance_ohm)
        assert delivered == pytest.approx(power, abs=1e-9)


def test_soc_clamps_and_refuses_current_past_full_and_empty() -> None:
    battery = _quiet(capacity_ah=10.0, initial_soc=0.95)
    # 0.5 Ah of room, 100 A for an hour offered: only what fits flows.
    flowed = battery.step(100.0, 3600.0)
    assert battery.soc == 1.0
    assert 0 < flowed < 100.0
    assert flowed * battery.coulombic_efficiency == pytest.approx(0.5)
    assert battery.step(10.0, 60.0) == 0.0
    assert battery.soc == 1.0

    flowed = battery.step(-100.0, 3600.0)
    assert battery.soc == 0.0
    assert flowed == pytest.approx(-10.0)
    assert battery.step(-10.0, 60.0) == 0.0
    assert battery.soc == 0.0


def test_coulombic_efficiency_loses_charge_on_charging_only() -> None:
    battery = _quiet(capacity_ah=100.0, initial_soc=0.2, coulombic_efficiency=0.95)
    for _ in range(3600):
        battery.step(20.0, 1.0)  # 20 Ah in
    assert battery.charge_ah == pytest.approx(20.0 + 20.0 * 0.95)
    assert battery.charged_ah == pytest.approx(20.0)
    for _ in range(3600):
        battery.step(-20.0, 1.0)  # 20 Ah out
    assert battery.charge_ah == pytest.approx(20.0 * 0.95)
    assert battery.discharged_ah == pytest.approx(20.0)


def test_self_discharge() -> None:
    battery = _quiet(self_discharge_pct_per_month=3.0, initial_soc=0.8)
    for _ in range(30):
        battery.step(0.0, 86400.0)
    assert battery.soc == pytest.approx(0.8 * 0.97, rel=1e-3)


def test_current_sensor_offset_noise_and_determinism() -> None:
    def run(seed: int) -> list[float]:
        battery = SimBattery(current_offset_a=0.5, current_noise_a=0.2, seed=seed)
        readings = []
        for _ in range(2000):
            battery.step(10.0, 1.0)
            readings.append(battery.measured_current)
        return readings

    first, again, other = run(7), run(7), run(8)
    assert first == again
    assert first != other
    mean = sum(first) / len(first)
    assert mean == pytest.approx(10.5, abs=0.03)
    spread = (sum((r - mean) ** 2 for r in first) / len(first)) ** 0.5
    assert spread == pytest.approx(0.2, rel=0.1)


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="chemistry"):
        SimBattery(chemistry="lead")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="efficiency"):
        SimBattery(coulombic_efficiency=1.2)
