"""The coordinator that steps peak shaving and sets the batteries' power.

At start it seeds the forecasts with the past week from Home Assistant's
recorder (the net load the grid meter and the batteries saw), so the
planner has days to forecast from at once; then every step it reads the
meter and the batteries, lets ``PeakShaver`` decide for them as one bank,
and writes each battery's share of the setpoint to its output number.
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

from ..const import (
    CONF_BATTERY_PHASES,
    CONF_BATTERY_SETPOINT_ENTITY,
    CONF_BILLING_INTERVAL_MIN,
    CONF_BILLING_PERIOD,
    CONF_CONNECTION_LIMIT_W,
    CONF_EXPORT_LIMIT_W,
    CONF_GRID_POWER_ENTITY,
    CONF_IMPORT_LIMIT_W,
    CONF_KIND,
    CONF_PHASE_LIMIT_W,
    CONF_PV_FORECAST_ENTITY,
    CONF_PV_FORECAST_ENTRY,
    CONF_PV_POWER_ENTITY,
    CONTROLLER_STEP,
    DOMAIN,
    GRID_POWER_PHASE_ENTITIES,
    KIND_FLEXIBLE_LOADS,
    KIND_PEAK_SHAVING,
    LOGGER,
    SUBENTRY_BATTERY,
)
from ..controller.base import ControllerCoordinator, refused_as_invalid_request
from ..controller.inputs import InputQuantity, read_input
from ..controller.site_decisions import TO_SAFE_STATE, Why
from ..controller.site_limits import (
    BatteryReserve,
    SiteHeadroom,
    async_car_power_entities,
    async_controllable_load_w,
    async_peak_lifts,
    async_post_headroom,
    async_post_reserve,
    async_withdraw_headroom,
    entity_devices,
)
from ..flexible_loads.entry_loads import commanded_history, entry_loads
from ..lib.control.battery_bank import BatteryBank, BatteryReading
from ..lib.control.billing import BillingPeriod
from ..lib.control.peak_shaving import (
    PeakShaver,
    PeakShavingSettings,
    PeakShavingStatus,
)
from ..lib.control.peak_shaving.status import reserve_ahead
from ..lib.control.reason_layers import layer_of
from ..lib.control.setpoint_limits import BatteryPhases
from .batteries import (
    BatteryEntities,
    battery_entities,
    battery_limits,
    voltage_guard,
)
from .pv_forecast import async_service_series, solcast_series

type PeakShavingConfigEntry = ConfigEntry[PeakShavingRuntimeData]

# The past the forecasts are seeded with, and how finely it is sampled.
SEED_DAYS = 7
SEED_SAMPLE = timedelta(minutes=5)
# How often a solar forecast service is asked again (services update hourly
# or half-hourly; asking reads what they hold, it calls no outside API).
PV_SERVICE_EVERY = timedelta(minutes=15)
PV_SERVICE_RETRY = timedelta(minutes=1)
PV_SERVICE_QUIET = timedelta(minutes=10)


def settings_from(options: Mapping[str, Any]) -> PeakShavingSettings:
    """Return the control layer's settings from an entry's options."""
    return PeakShavingSettings(
        import_limit_w=options.get(CONF_IMPORT_LIMIT_W),
        export_limit_w=options.get(CONF_EXPORT_LIMIT_W),
        billing_interval=timedelta(minutes=int(options[CONF_BILLING_INTERVAL_MIN])),
        # Entries made before the option existed: the common tariff.
        billing_period=BillingPeriod(
            options.get(CONF_BILLING_PERIOD, BillingPeriod.MONTH)
        ),
        time_zone=dt_util.get_default_time_zone(),
        phase_limit_w=options.get(CONF_PHASE_LIMIT_W),
        connection_limit_w=options.get(CONF_CONNECTION_LIMIT_W),
        battery_phases=BatteryPhases(
            options.get(CONF_BATTERY_PHASES, BatteryPhases.THREE)
        ),
    )


def entry_batteries(
    entry: PeakShavingConfigEntry,
) -> tuple[list[BatteryEntities], BatteryBank]:
    """Return the entry's batteries, its own first, and the bank they make.

    The entry's own battery is named by its setpoint number (the entry's
    title names peak shaving); a further battery by its subentry's title.
    """
    entities = [battery_entities(entry.data[CONF_BATTERY_SETPOINT_ENTITY], entry.data)]
    limits = [battery_limits(entry.options)]
    guards = [voltage_guard(entry.options)]
    for subentry in entry.subentries.values():
        if subentry.subentry_type != SUBENTRY_BATTERY:
            continue
        entities.append(battery_entities(subentry.title, subentry.data))
        limits.append(battery_limits(subentry.data))
        guards.append(voltage_guard(subentry.data))
    return entities, BatteryBank(limits, guards)


class PeakShavingCoordinator(ControllerCoordinator[PeakShavingStatus]):
    """Steps peak shaving and keeps each battery's setpoint where it decides."""

    config_entry: PeakShavingConfigEntry
    shaver: PeakShaver

    def __init__(self, hass: HomeAssistant, entry: PeakShavingConfigEntry) -> None:
        """Initialize; ``_async_setup`` restores and seeds."""
        super().__init__(hass, entry, kind=KIND_PEAK_SHAVING, step=CONTROLLER_STEP)
        self.batteries: list[BatteryEntities]
        self.bank: BatteryBank
        self.batteries, self.bank = entry_batteries(entry)
        self._pv_service_read: datetime | None = None
        self._pv_service_silent_since: datetime | None = None
        self._pv_service_logged = False

    @override
    async def _async_setup(self) -> None:
        """Restore the billed peak and limits; seed the forecasts."""
        now = dt_util.utcnow()
        settings = settings_from(self.config_entry.options)
        battery = self.bank.limits
        self.shaver = await self.async_restore(
            lambda saved: PeakShaver(settings, battery, now=now, saved=saved)
        )
        await self._async_seed_history(now)

    async def _async_seed_history(self, now: datetime) -> None:
        """Feed the past week of net load from the recorder into the forecasts."""
        if "recorder" not in self.hass.config.components:
            return
        from homeassistant.components.recorder import history  # noqa: PLC0415
        from homeassistant.helpers.recorder import get_instance  # noqa: PLC0415

        data = self.config_entry.data
        grid_entity = data[CONF_GRID_POWER_ENTITY]
        battery_entities = [battery.power for battery in self.batteries]
        pv_entity = data.get(CONF_PV_POWER_ENTITY)
        # The cars the site's wallbox managers charge take the room; the
        # load learned leaves them out, as the live steps do.
        car_entities = async_car_power_entities(self.hass)
        # So do the flexible loads: each by its power sensor, else by its
        # switch or number.
        loads = [
            load
            for entry in self.hass.config_entries.async_entries(DOMAIN)
            if entry.data.get(CONF_KIND) == KIND_FLEXIBLE_LOADS
            for load in entry_loads(entry)
        ]
        load_entities = [load.power_entity or load.entity_id for load in loads]
        taken = [*car_entities, *load_entities]
        entities = list(
            dict.fromkeys(
                entity
                for entity in (grid_entity, *battery_entities, pv_entity, *taken)
                if entity
            )
        )
        start = now - timedelta(days=SEED_DAYS)
        states = await get_instance(self.hass).async_add_executor_job(
            history.get_significant_states, self.hass, start, now, entities
        )
        series = {entity: _watts(states.get(entity, [])) for entity in entities}
        for load in loads:
            if load.power_entity is None:
                series[load.entity_id] = list(
                    commanded_history(load, states.get(load.entity_id, []))
                )
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
            grid = current[grid_entity]
            powers = [current[entity] for entity in battery_entities]
            pv = current[pv_entity] if pv_entity else 0.0
            if grid is not None and None not in powers:
                battery = sum(power for power in powers if power is not None)
                drawn = sum(max(current[entity] or 0.0, 0.0) for entity in taken)
                self.shaver.observe(
                    moment, grid - battery - drawn + (pv or 0.0), pv or 0.0
                )
            moment += SEED_SAMPLE

    @override
    async def _async_update_data(self) -> PeakShavingStatus:
        """Run one step and set the battery."""
        now = dt_util.utcnow()
        data = self.config_entry.data
        grid = read_input(
            self.hass, data[CONF_GRID_POWER_ENTITY], InputQuantity.POWER, now
        )
        bank = self.bank.read(
            [self._read_battery(battery, now) for battery in self.batteries],
            CONTROLLER_STEP.total_seconds() / 3600,
        )
        pv = read_input(
            self.hass, data.get(CONF_PV_POWER_ENTITY), InputQuantity.POWER, now
        )
        phase_entities = [data.get(key) for key in GRID_POWER_PHASE_ENTITIES]
        phases = (
            [
                read_input(self.hass, entity, InputQuantity.POWER, now)
                for entity in phase_entities
            ]
            if all(phase_entities)
            else None
        )
        if forecast_entity := data.get(CONF_PV_FORECAST_ENTITY):
            self.shaver.pv_forecast = solcast_series(
                self.hass.states.get(forecast_entity)
            )
        elif forecast_entry := data.get(CONF_PV_FORECAST_ENTRY):
            await self._async_read_pv_service(forecast_entry, now)
        status = self.shaver.update(
            now,
            grid_w=grid,
            battery_power_w=bank.power_w if bank else None,
            energy_wh=bank.energy_wh if bank else None,
            step=CONTROLLER_STEP,
            pv_w=pv,
            grid_phases_w=phases,
            batteries=bank,
            lifts_w=async_peak_lifts(self.hass, now),
            controllable_w=async_controllable_load_w(self.hass, now),
        )
        shares = (
            self.bank.split(status.battery_setpoint_w, bank)
            if bank
            else [0.0] * len(self.batteries)
        )
        await self._async_set_batteries(
            shares, Why(layer=layer_of(status.reason), reason=status.reason)
        )
        # The lift is its asker's: the others get the room under the level.
        headroom = status.headroom_w
        async_post_headroom(
            self.hass,
            self.config_entry.entry_id,
            SiteHeadroom(
                at=now,
                source=self.name,
                grid_w=None if headroom is None else headroom - status.peak_lift_w,
                phase_w=status.phase_headroom_w,
                connection_w=status.connection_headroom_w,
                ahead=self.shaver.room_ahead(),
                lifts_level=True,
            ),
        )
        self._post_reserve(now, status)
        self.schedule_save()
        return status

    def _post_reserve(self, now: datetime, status: PeakShavingStatus) -> None:
        """Post the SOC the plan holds, for the other controllers on these batteries."""
        reserve = None
        if status.reserve_soc is not None:
            shaver = self.shaver
            reserve = BatteryReserve(
                at=now,
                source=self.name,
                soc=status.reserve_soc,
                ahead=reserve_ahead(
                    shaver.memory.plan, shaver.battery.capacity_wh, now
                ),
                devices=entity_devices(
                    self.hass,
                    (
                        entity
                        for battery in self.batteries
                        for entity in (battery.setpoint, battery.power, battery.soc)
                    ),
                ),
            )
        async_post_reserve(self.hass, self.config_entry.entry_id, reserve)

    async def _async_read_pv_service(self, entry_id: str, now: datetime) -> None:
        """Take the solar forecast service's series, every PV_SERVICE_EVERY.

        Without one (the service not loaded yet, or empty) the PV forecast
        comes from history and the service is asked again each minute; it is
        logged once when that lasts PV_SERVICE_QUIET (a service that starts
        after peak shaving is not a fault), and once when it is back.
        """
        last = self._pv_service_read
        if last is not None and now - last < PV_SERVICE_EVERY:
            return
        series = await async_service_series(self.hass, entry_id)
        self.shaver.pv_forecast = series
        if series:
            self._pv_service_read = now
            if self._pv_service_logged:
                LOGGER.info("%s: the solar forecast service is back", self.name)
            self._pv_service_silent_since = None
            self._pv_service_logged = False
            return
        self._pv_service_read = now - PV_SERVICE_EVERY + PV_SERVICE_RETRY
        since = self._pv_service_silent_since or now
        self._pv_service_silent_since = since
        if now - since >= PV_SERVICE_QUIET and not self._pv_service_logged:
            self._pv_service_logged = True
            LOGGER.warning(
                "%s: the solar forecast service has given no forecast for %s; "
                "PV is forecast from history",
                self.name,
                PV_SERVICE_QUIET,
            )

    def _read_battery(self, battery: BatteryEntities, now: datetime) -> BatteryReading:
        """Return one battery's power, SOC and voltage (None where untrustworthy)."""
        return BatteryReading(
            power_w=read_input(self.hass, battery.power, InputQuantity.POWER, now),
            soc=read_input(self.hass, battery.soc, InputQuantity.PERCENT, now),
            voltage_v=read_input(
                self.hass, battery.voltage, InputQuantity.VOLTAGE, now
            ),
        )

    async def _async_set_batteries(
        self, setpoints_w: Sequence[float], why: Why
    ) -> None:
        """Write each battery's setpoint (in its output's sign), in time before it lapses."""
        now = dt_util.utcnow()
        for battery, setpoint_w in zip(self.batteries, setpoints_w, strict=True):
            value = -setpoint_w if battery.invert_setpoint else setpoint_w
            await self.writer.async_write(battery.setpoint, round(value), now, why=why)

    async def async_start(self) -> None:
        """Start shaving (the default), then step at once."""
        self.shaver.start(dt_util.utcnow())
        await self.async_refresh()

    async def async_stop(self) -> None:
        """Stop shaving, leaving the batteries at 0 W, then step at once."""
        self.shaver.stop(dt_util.utcnow())
        await self.async_refresh()

    async def async_set_limits(
        self,
        import_limit_w: float | None,
        export_limit_w: float | None,
        until: datetime | None = None,
    ) -> None:
        """Hold these grid limits (until ``until``), then step at once.

        Raises ServiceValidationError (translated) for limits control refuses.
        """
        with refused_as_invalid_request():
            self.shaver.set_limits(
                dt_util.utcnow(), import_limit_w, export_limit_w, until
            )
        await self.async_refresh()

    async def async_replan(self) -> None:
        """Plan again from the forecasts now, not at the next planned time."""
        self.shaver.memory.last_plan_at = None
        await self.async_refresh()

    async def async_reset_billed_peak(self) -> None:
        """Start a new billed peak now, then step at once."""
        self.shaver.reset_billed_peak(dt_util.utcnow())
        await self.async_refresh()

    @override
    async def async_stop_steering(self) -> None:
        """Set the batteries to 0 W and write the state: nothing left to a dead controller."""
        async_withdraw_headroom(self.hass, self.config_entry.entry_id)
        async_post_reserve(self.hass, self.config_entry.entry_id, None)
        try:
            await self._async_set_batteries([0.0] * len(self.batteries), TO_SAFE_STATE)
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
