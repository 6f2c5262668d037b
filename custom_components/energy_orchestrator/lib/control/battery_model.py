"""What the battery manager knows of a cell: its voltage curve and limits.

The open-circuit voltage (OCV) against state of charge is a property of the
chemistry. LFP is nearly flat from 20 to 90 %: a rested voltage there says
little about the SOC, and the estimator must weigh it by how steep the curve
is (``soc_uncertainty_from_voltage``). NMC slopes all along and a rested
voltage is a good witness everywhere.

These tables are typical datasheet curves; the simulator keeps its own, so
a benchmark does not grade the estimator against its own assumptions.
"""

from bisect import bisect_right
from dataclasses import dataclass
from enum import StrEnum


class Chemistry(StrEnum):
    """Cell chemistries with a known voltage curve."""

    LFP = "lfp"
    NMC = "nmc"


@dataclass(frozen=True)
class CellModel:
    """A cell's curve, limits and typical figures."""

    # (soc 0..1, volts) at rest, room temperature, sorted by SOC.
    ocv_table: tuple[tuple[float, float], ...]
    # Cut-off and absorb (charge-end) voltages a charger uses by default.
    voltage_min: float
    voltage_max: float
    # Outside these a reading is not a cell voltage at all (a wrong cell
    # count, a sensor fault).
    plausible_min: float
    plausible_max: float
    # Per-cell resistance of a typical 100 Ah cell with its share of busbars.
    resistance_ohm_100ah: float
    # Charge lost to side reactions: what comes out over what went in.
    coulombic_efficiency: float
    # How far a rested voltage strays from the table: hysteresis between
    # charge and discharge (large for LFP), cell spread, meter error.
    rest_voltage_uncertainty: float
    # How long after the current stops the voltage is close to its OCV.
    relaxation_s: float


CELL_MODELS: dict[Chemistry, CellModel] = {
    Chemistry.LFP: CellModel(
        ocv_table=(
            (0.00, 2.50),
            (0.03, 2.95),
            (0.06, 3.08),
            (0.10, 3.16),
            (0.20, 3.215),
            (0.30, 3.25),
            (0.40, 3.265),
            (0.50, 3.28),
            (0.60, 3.29),
            (0.70, 3.30),
            (0.80, 3.315),
            (0.90, 3.335),
            (0.95, 3.36),
            (0.98, 3.42),
            (1.00, 3.60),
        ),
        voltage_min=2.90,
        voltage_max=3.55,
        plausible_min=1.5,
        plausible_max=4.0,
        resistance_ohm_100ah=0.0012,
        coulombic_efficiency=0.99,
        rest_voltage_uncertainty=0.012,
        relaxation_s=30 * 60,
    ),
    Chemistry.NMC: CellModel(
        ocv_table=(
            (0.00, 3.00),
            (0.05, 3.32),
            (0.10, 3.46),
            (0.20, 3.56),
            (0.30, 3.63),
            (0.40, 3.69),
            (0.50, 3.75),
            (0.60, 3.82),
            (0.70, 3.91),
            (0.80, 3.99),
            (0.90, 4.08),
            (1.00, 4.20),
        ),
        voltage_min=3.20,
        voltage_max=4.15,
        plausible_min=2.0,
        plausible_max=4.5,
        resistance_ohm_100ah=0.0015,
        coulombic_efficiency=0.98,
        rest_voltage_uncertainty=0.008,
        relaxation_s=15 * 60,
    ),
}

_SOCS = {c: tuple(p[0] for p in m.ocv_table) for c, m in CELL_MODELS.items()}
_VOLTS = {c: tuple(p[1] for p in m.ocv_table) for c, m in CELL_MODELS.items()}


def cell_ocv(chemistry: Chemistry, soc: float) -> float:
    """Return a cell's open-circuit voltage at a SOC (0..1, clamped)."""
    socs, volts = _SOCS[chemistry], _VOLTS[chemistry]
    soc = min(max(soc, 0.0), 1.0)
    index = min(bisect_right(socs, soc) - 1, len(socs) - 2)
    fraction = (soc - socs[index]) / (socs[index + 1] - socs[index])
    return volts[index] + fraction * (volts[index + 1] - volts[index])


def soc_from_ocv(chemistry: Chemistry, volts: float) -> float:
    """Return the SOC (0..1) whose open-circuit voltage is ``volts`` (clamped)."""
    socs, table = _SOCS[chemistry], _VOLTS[chemistry]
    if volts <= table[0]:
        return 0.0
    if volts >= table[-1]:
        return 1.0
    index = min(bisect_right(table, volts) - 1, len(table) - 2)
    fraction = (volts - table[index]) / (table[index + 1] - table[index])
    return socs[index] + fraction * (socs[index + 1] - socs[index])


def ocv_slope(chemistry: Chemistry, soc: float) -> float:
    """Return dV/dSOC (volts per unit SOC) of one cell around ``soc``.

    Taken over a window of ±5 % so a kink in the table does not make a
    single point look more telling than its neighbourhood.
    """
    low, high = max(soc - 0.05, 0.0), min(soc + 0.05, 1.0)
    return (cell_ocv(chemistry, high) - cell_ocv(chemistry, low)) / (high - low)


def soc_uncertainty_from_voltage(chemistry: Chemistry, soc: float) -> float:
    """Return the SOC uncertainty (0..1, one sigma) of a rested-voltage reading.

    A voltage known to ``rest_voltage_uncertainty`` pins the SOC to that
    over the curve's slope: a few percent on a steep part, tens of percent
    on LFP's plateau.
    """
    model = CELL_MODELS[chemistry]
    return min(
        model.rest_voltage_uncertainty / max(ocv_slope(chemistry, soc), 1e-6), 1.0
    )
