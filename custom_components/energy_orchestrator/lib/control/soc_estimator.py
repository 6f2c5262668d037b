"""The SOC estimator as the battery manager and ``eo soc`` run it.

It takes raw samples as they come from sensors (a voltage that may be a
glitch, a current or only a power, a BMS's SOC), keeps what can be trusted,
starts the count when nothing is known yet, and hands each sample to the
coulomb counter.
"""

from dataclasses import dataclass
from datetime import datetime

from .battery_model import CELL_MODELS, soc_from_ocv, soc_uncertainty_from_voltage
from .battery_settings import BatteryManagerSettings, is_finite
from .coulomb import CoulombCounter, CounterLimits

# A BMS's own SOC is a fair start when nothing else is known (it counts
# too), but not better than this.
BMS_SOC_UNCERTAINTY = 0.1
# Even on a steep part of the curve, a voltage read under load is no
# better than this as a starting point.
MIN_VOLTAGE_START_UNCERTAINTY = 0.05


@dataclass(frozen=True)
class BatterySample:
    """One reading of the battery; None where a value is unknown."""

    voltage_v: float | None
    current_a: float | None = None
    # Used for the current when no current is measured (I = P / U).
    power_w: float | None = None
    temperature_c: float | None = None
    bms_soc: float | None = None


def counter_limits(settings: BatteryManagerSettings) -> CounterLimits:
    """Return what the coulomb counter needs of the settings."""
    return CounterLimits(
        chemistry=settings.chemistry,
        cells_in_series=settings.cells_in_series,
        nameplate_ah=settings.capacity_ah,
        voltage_min=settings.cell_voltage_min,
        voltage_max=settings.cell_voltage_max,
        tail_current_a=settings.tail_current_a,
        max_plausible_current_a=settings.max_plausible_current_a,
    )


class SocEstimator:
    """Cleans samples and feeds the counter; see the module doc."""

    def __init__(
        self, settings: BatteryManagerSettings, counter: CoulombCounter | None = None
    ) -> None:
        """Estimate for a battery, continuing ``counter`` when given."""
        self.settings = settings
        self.counter = counter or CoulombCounter(counter_limits(settings))

    def update(
        self, now: datetime, sample: BatterySample, *, idle: bool
    ) -> float | None:
        """Count one sample; return the voltage if it was plausible, else None.

        ``idle`` says the battery is commanded to rest (the offset may be
        learned then).
        """
        voltage = self._plausible_voltage(sample.voltage_v)
        current = sample.current_a if is_finite(sample.current_a) else None
        if current is None and voltage is not None and is_finite(sample.power_w):
            assert sample.power_w is not None
            current = sample.power_w / voltage
        temperature = sample.temperature_c if is_finite(sample.temperature_c) else None
        if self.counter.soc is None and voltage is not None:
            self._start(voltage, sample.bms_soc)
        self.counter.step(now, voltage, current, idle=idle, temperature_c=temperature)
        return voltage

    def _plausible_voltage(self, voltage: float | None) -> float | None:
        """Return the voltage if a pack of this chemistry can show it."""
        if voltage is None or not is_finite(voltage):
            return None
        model = CELL_MODELS[self.settings.chemistry]
        cell = voltage / self.settings.cells_in_series
        return voltage if model.plausible_min <= cell <= model.plausible_max else None

    def _start(self, voltage: float, bms_soc: float | None) -> None:
        """Start a SOC with nothing saved: from the BMS, else the voltage."""
        if bms_soc is not None and is_finite(bms_soc) and 0 <= bms_soc <= 100:
            self.counter.initialise(bms_soc / 100, BMS_SOC_UNCERTAINTY, "bms")
            return
        chemistry = self.settings.chemistry
        soc = soc_from_ocv(chemistry, voltage / self.settings.cells_in_series)
        # Under load the voltage is off its OCV, and LFP's plateau is vague:
        # the first rest or full charge will correct it.
        self.counter.initialise(
            soc,
            max(
                soc_uncertainty_from_voltage(chemistry, soc),
                MIN_VOLTAGE_START_UNCERTAINTY,
            ),
            "voltage",
        )
