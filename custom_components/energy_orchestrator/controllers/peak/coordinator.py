"""The coordinator that steps peak shaving and sets the battery's power.

At start it seeds the forecasts with the past week from Home Assistant's
recorder (the net load the grid meter and the battery saw), so the planner
has days to forecast from at once; then every step it reads the meter and
the battery, lets ``PeakShaver`` decide, and writes the setpoint to the
output number.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, override

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import UnitOfPower
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import PowerConverter

from ...const import (
    CONF_BATTERY_CAPACITY_KWH,
    CONF_BATTERY_MAX_KW,
    CONF_BATTERY_PHASES,
    CONF_BATTERY_POWER_ENTITY,
    CONF_BATTERY_SETPOINT_ENTITY,
    CONF_BATTERY_SOC_ENTITY,
    CONF_BATTERY_SOC_MAX,
    CONF_BATTERY_SOC_MIN,
    CONF_BATTERY_VOLTAGE_ENTITY,
    CONF_BATTERY_VOLTAGE_MAX_V,
    CONF_BATTERY_VOLTAGE_MIN_V,
    CONF_BILLING_INTERVAL_MIN,
    CONF_BILLING_PERIOD,
    CONF_EXPORT_LIMIT_W,
    CONF_GRID_POWER_ENTITY,
    CONF_GRID_POWER_L1_ENTITY,
    CONF_GRID_POWER_L2_ENTITY,
    CONF_GRID_POWER_L3_ENTITY,
    CONF_IMPORT_LIMIT_W,
    CONF_INVERT_SETPOINT,
    CONF_PHASE_LIMIT_W,
    CONF_PV_FORECAST_ENTITY,
    CONF_PV_POWER_ENTITY,
    CONTROLLER_STEP,
    LOGGER,
    TYPE_PEAK_SHAVING,
)
from ...control.energy_planner import BatteryLimits
from ...control.peak_shaving import (
    BillingPeriod,
    PeakShaver,
    PeakShavingSettings,
    PeakShavingStatus,
)
from ...control.setpoint_limits import BatteryPhases
from ..base import ControllerCoordinator
from ..inputs import InputQuantity, read_input
from ..outputs import async_set_output

type PeakShavingConfigEntry = ConfigEntry[PeakShavingRuntimeData]

# The past the forecasts are seeded with, and how finely it is sampled.
SEED_DAYS = 7
SEED_SAMPLE = timedelta(minutes=5)


def settings_from(
    options: Mapping[str, Any],
) -> tuple[PeakShavingSettings, BatteryLimits]:
    """Return the control layer's settings and battery from an entry's options."""
    settings = PeakShavingSettings(
        import_limit_w=options.get(CONF_IMPORT_LIMIT_W),
        export_limit_w=options.get(CONF_EXPORT_LIMIT_W),
        billing_interval=timedelta(minutes=int(options[CONF_BILLING_INTERVAL_MIN])),
        # Entries made before the option existed: the common tariff.
        billing_period=BillingPeriod(
            options.get(CONF_BILLING_PERIOD, BillingPeriod.MONTH)
        ),
        time_zone=dt_util.get_default_time_zone(),
        phase_limit_w=options.get(CONF_PHASE_LIMIT_W),
        battery_phases=BatteryPhases(
            options.get(CONF_BATTERY_PHASES, BatteryPhases.THREE)
        ),
        battery_voltage_min_v=options.get(CONF_BATTERY_VOLTAGE_MIN_V),
        battery_voltage_max_v=options.get(CONF_BATTERY_VOLTAGE_MAX_V),
    )
    battery = BatteryLimits(
        capacity_wh=float(options[CONF_BATTERY_CAPACITY_KWH]) * 1000,
        max_charge_w=float(options[CONF_BATTERY_MAX_KW]) * 1000,
        max_discharge_w=float(options[CONF_BATTERY_MAX_KW]) * 1000,
        soc_min=float(options[CONF_BATTERY_SOC_MIN]),
        soc_max=float(options[CONF_BATTERY_SOC_MAX]),
    )
    return settings, battery


def pv_forecast_series(state: State | None) -> list[tuple[datetime, float]]:
    """Return a PV forecast entity's series in W, when it carries one.

    Solcast's sensors hold ``detailedForecast``: ``period_start`` and
    ``pv_estimate`` in kW per half hour. Anything else gives no series, and
    the PV forecast comes from history.
    """
    if state is None:
        return []
    series: list[tuple[datetime, float]] = []
    for row in state.attributes.get("detailedForecast") or ():
        try:
            start = dt_util.parse_datetime(str(row["period_start"]))
            watts = float(row["pv_estimate"]) * 1000
        except KeyError, TypeError, ValueError:
            continue
        if start is not None:
            series.append((dt_util.as_utc(start), watts))
    return series


class PeakShavingCoordinator(ControllerCoordinator[PeakShavingStatus]):
    """Steps peak shaving and keeps the battery's setpoint where it decides."""

    config_entry: PeakShavingConfigEntry
    shaver: PeakShaver

    def __init__(self, hass: HomeAssistant, entry: PeakShavingConfigEntry) -> None:
        """Initialize; ``_async_setup`` restores and seeds."""
        super().__init__(hass, entry, kind=TYPE_PEAK_SHAVING, step=CONTROLLER_STEP)
        self._output_failed = False

    @override
    async def _async_setup(self) -> None:
        """Restore the billed peak and limits; seed the forecasts."""
        now = dt_util.utcnow()
        settings, battery = settings_from(self.config_entry.options)
        saved = await self.async_load_saved()
        try:
            self.shaver = PeakShaver(settings, battery, now=now, saved=saved)
        except (KeyError, TypeError, ValueError) as err:
            LOGGER.warning(
                "%s: saved state cannot be used, starting anew: %s", self.name, err
            )
            self.shaver = PeakShaver(settings, battery, now=now)
        await self._async_seed_history(now)

    async def _async_seed_history(self, now: datetime) -> None:
        """Feed the past week of net load from the recorder into the forecasts."""
        if "recorder" not in self.hass.config.components:
            return
        from homeassistant.components.recorder import history  # noqa: PLC0415
        from homeassistant.helpers.recorder import get_instance  # noqa: PLC0415

        data = self.config_entry.data
        entities = [
            entity
            for entity in (
                data[CONF_GRID_POWER_ENTITY],
                data[CONF_BATTERY_POWER_ENTITY],
                data.get(CONF_PV_POWER_ENTITY),
            )
            if entity
        ]
        start = now - timedelta(days=SEED_DAYS)
        states = await get_instance(self.hass).async_add_executor_job(
            history.get_significant_states, self.hass, start, now, entities
        )
        series = {entity: _watts(states.get(entity, [])) for entity in entities}
        grid_entity = data[CONF_GRID_POWER_ENTITY]
        battery_entity = data[CONF_BATTERY_POWER_ENTITY]
        pv_entity = data.get(CONF_PV_POWER_ENTITY)
        cursors = dict.fromkeys(entities, 0)
        current: dict[str, float | None] = dict.fromkeys(entities)
        moment = start
        while moment < now:
            # Walk each history forward to the moment: both are sorted.
            for entity in entities:
                values = series[entity]
                while (
                    cursors[entity] < len(values)
                    and values[cursors[entity]][0] <= moment
                ):
                    current[entity] = values[cursors[entity]][1]
                    cursors[entity] += 1
            grid, battery = current[grid_entity], current[battery_entity]
            pv = current[pv_entity] if pv_entity else 0.0
            if grid is not None and battery is not None:
                self.shaver.observe(moment, grid - battery + (pv or 0.0), pv or 0.0)
            moment += SEED_SAMPLE

    @override
    async def _async_update_data(self) -> PeakShavingStatus:
        """Run one step and set the battery."""
        now = dt_util.utcnow()
        data = self.config_entry.data
        grid = read_input(
            self.hass, data[CONF_GRID_POWER_ENTITY], InputQuantity.POWER, now
        )
        battery = read_input(
            self.hass, data[CONF_BATTERY_POWER_ENTITY], InputQuantity.POWER, now
        )
        soc = read_input(
            self.hass, data[CONF_BATTERY_SOC_ENTITY], InputQuantity.PERCENT, now
        )
        pv = read_input(
            self.hass, data.get(CONF_PV_POWER_ENTITY), InputQuantity.POWER, now
        )
        phase_entities = [
            data.get(key)
            for key in (
                CONF_GRID_POWER_L1_ENTITY,
                CONF_GRID_POWER_L2_ENTITY,
                CONF_GRID_POWER_L3_ENTITY,
            )
        ]
        phases = (
            [
                read_input(self.hass, entity, InputQuantity.POWER, now)
                for entity in phase_entities
            ]
            if all(phase_entities)
            else None
        )
        voltage = read_input(
            self.hass,
            data.get(CONF_BATTERY_VOLTAGE_ENTITY),
            InputQuantity.VOLTAGE,
            now,
        )
        if forecast_entity := data.get(CONF_PV_FORECAST_ENTITY):
            self.shaver.pv_forecast = pv_forecast_series(
                self.hass.states.get(forecast_entity)
            )
        energy = (
            soc / 100 * self.shaver.battery.capacity_wh if soc is not None else None
        )
        status = self.shaver.update(
            now,
            grid_w=grid,
            battery_power_w=battery,
            energy_wh=energy,
            step=CONTROLLER_STEP,
            pv_w=pv,
            grid_phases_w=phases,
            battery_voltage_v=voltage,
        )
        await self._async_set_battery(status.battery_setpoint_w)
        self.schedule_save()
        return status

    async def _async_set_battery(self, setpoint_w: float) -> None:
        """Write the setpoint (in the output's sign); log a failure once."""
        data = self.config_entry.data
        value = -setpoint_w if data.get(CONF_INVERT_SETPOINT) else setpoint_w
        try:
            await async_set_output(
                self.hass, data[CONF_BATTERY_SETPOINT_ENTITY], round(value)
            )
        except HomeAssistantError as err:
            if not self._output_failed:
                self._output_failed = True
                LOGGER.warning("%s: cannot set the battery: %s", self.name, err)
        else:
            if self._output_failed:
                self._output_failed = False
                LOGGER.info("%s: the battery takes its setpoint again", self.name)

    async def async_request(self, action: str, **kwargs: Any) -> None:
        """Carry out an action (start, stop, limits, re-plan, reset), then step at once."""
        now = dt_util.utcnow()
        if action == "start":
            self.shaver.start(now)
        elif action == "stop":
            self.shaver.stop(now)
        elif action == "limits":
            self.shaver.set_limits(now, **kwargs)
        elif action == "replan":
            self.shaver.memory.last_plan_at = None
        elif action == "reset_billed_peak":
            self.shaver.reset_billed_peak(now)
        await self.async_refresh()

    @override
    async def async_stop_steering(self) -> None:
        """Set the battery to 0 W and write the state: nothing left to a dead controller."""
        try:
            await self._async_set_battery(0.0)
        finally:
            await self.async_save_now()

    @override
    def snapshot(self) -> dict[str, Any]:
        """Return the billed peak, limits and whether shaving runs."""
        return self.shaver.snapshot()


def _watts(
    states: Sequence[State | dict[str, Any]],
) -> list[tuple[datetime, float | None]]:
    """Return a recorder history of a power sensor as (time, W or None)."""
    values: list[tuple[datetime, float | None]] = []
    for state in states:
        if not isinstance(state, State):
            continue
        number: float | None
        try:
            number = float(state.state)
            unit = state.attributes.get("unit_of_measurement", UnitOfPower.WATT)
            number = PowerConverter.convert(number, unit, UnitOfPower.WATT)
        except ValueError, HomeAssistantError:
            number = None
        values.append((state.last_changed, number))
    return values


@dataclass(kw_only=True)
class PeakShavingRuntimeData:
    """Runtime data of a peak-shaving entry."""

    coordinator: PeakShavingCoordinator
    device_info: DeviceInfo
