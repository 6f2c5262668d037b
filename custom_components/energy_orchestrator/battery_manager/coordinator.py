"""The coordinator that steps a battery manager and carries out its decisions.

Every step it reads the battery's voltage and current (or power) from their
entities, hands them to the HA-free manager in ``lib/control/``, fires an
event on every state transition, writes the state's outputs (an inverter
mode, a setpoint, charge and discharge switches) and schedules the manager's
state for saving, so a restart resumes the count instead of guessing from
voltage.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
import logging
import math
from typing import Any, override

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.util import dt as dt_util

from ..const import (
    CONF_BMS_SOC_ENTITY,
    CONF_CHARGE_SWITCH_ENTITY,
    CONF_CURRENT_ENTITY,
    CONF_MODE_SELECT_ENTITY,
    CONF_OPTION_CHARGE,
    CONF_OPTION_REST,
    CONF_OPTION_SELL,
    CONF_POWER_ENTITY,
    CONF_SELL_SWITCH_ENTITY,
    CONF_SETPOINT_CHARGE,
    CONF_SETPOINT_ENTITY,
    CONF_SETPOINT_REST,
    CONF_SETPOINT_SELL,
    CONF_TEMPERATURE_ENTITY,
    CONF_VOLTAGE_ENTITY,
    CONTROLLER_STEP,
    DOMAIN,
    EVENT_BATTERY_TRANSITION,
    KIND_BATTERY_MANAGER,
)
from ..controller.base import ControllerCoordinator
from ..controller.battery_plan import (
    FOLLOWS_LOADS_PLAN,
    FOLLOWS_OWN_PRICES,
    PlannableBattery,
    async_loads_plan,
    async_post_battery,
)
from ..controller.inputs import InputQuantity, read_input
from ..controller.site_decisions import TO_SAFE_STATE, Why
from ..controller.site_limits import (
    BatteryReserve,
    async_battery_reserve,
    entity_devices,
)
from ..flexible_loads.prices import PriceReader
from ..lib.control.battery_manager import (
    BatteryManager,
    BatteryManagerSettings,
    BatteryMode,
    BatterySample,
    BatteryState,
    BatteryStatus,
    Transition,
)
from ..lib.control.battery_price_plan import (
    SLOT,
    BatteryPricePlan,
    PricePlanError,
    PricePlanRequest,
    plan_battery,
)
from ..lib.control.flexible_loads.prices import PriceSourceError
from ..lib.control.flexible_loads.tariff import PriceSource, Tariff, TariffError
from ..lib.control.reason_layers import layer_of
from .settings import (
    DEFAULT_ROUND_TRIP_EFFICIENCY,
    SETTING_ROUND_TRIP_EFFICIENCY,
    PricePlanSettings,
    nominal_voltage,
    price_plan_settings,
    settings_from_options,
    validate_options,
)

LOGGER = logging.getLogger(__name__)

# The price plan is made again this often, and at once when the prices or
# the peak reserve change.
PLAN_EVERY = timedelta(minutes=15)
# How far a plan looks: a price entity's forecast, up to two days; a fixed
# price or a schedule, a day.
HORIZON_MAX = timedelta(hours=48)
FIXED_HORIZON = timedelta(hours=24)
# After a start, a price integration may not be loaded yet: the plan saved
# before the restart runs on this long before the prices count as unreadable.
START_GRACE = timedelta(minutes=2)
# Without a setpoint or a current limit, a battery's power is taken as C/2.
DEFAULT_C_RATE = 0.5

type BatteryManagerConfigEntry = ConfigEntry[BatteryManagerRuntimeData]


def outputs_by_state(
    data: Mapping[str, Any],
) -> dict[str, dict[BatteryState, float | str | bool]]:
    """Return, per output entity, the value it takes in each state.

    Only outputs the user configured appear; a switch is on only in its own
    state, so rest always means both off.
    """
    outputs: dict[str, dict[BatteryState, float | str | bool]] = {}
    if entity := data.get(CONF_MODE_SELECT_ENTITY):
        outputs[entity] = {
            BatteryState.CHARGE: data[CONF_OPTION_CHARGE],
            BatteryState.REST: data[CONF_OPTION_REST],
            BatteryState.SELL: data[CONF_OPTION_SELL],
        }
    if entity := data.get(CONF_SETPOINT_ENTITY):
        outputs[entity] = {
            BatteryState.CHARGE: float(data[CONF_SETPOINT_CHARGE]),
            BatteryState.REST: float(data[CONF_SETPOINT_REST]),
            BatteryState.SELL: float(data[CONF_SETPOINT_SELL]),
        }
    for key, on_in in (
        (CONF_CHARGE_SWITCH_ENTITY, BatteryState.CHARGE),
        (CONF_SELL_SWITCH_ENTITY, BatteryState.SELL),
    ):
        if entity := data.get(key):
            outputs[entity] = {state: state is on_in for state in BatteryState}
    return outputs


class BatteryManagerCoordinator(ControllerCoordinator[BatteryStatus]):
    """Steps one battery manager and keeps its outputs in line with its state."""

    config_entry: BatteryManagerConfigEntry
    manager: BatteryManager

    def __init__(self, hass: HomeAssistant, entry: BatteryManagerConfigEntry) -> None:
        """Initialize the coordinator; ``async_setup`` restores the manager."""
        super().__init__(hass, entry, kind=KIND_BATTERY_MANAGER, step=CONTROLLER_STEP)
        self.outputs = outputs_by_state(entry.data)
        self.price_settings: PricePlanSettings | None = price_plan_settings(
            entry.options, dt_util.get_default_time_zone()
        )
        entity_id = self.price_settings.entity_id if self.price_settings else None
        self.price_reader = PriceReader(hass, entity_id) if entity_id else None
        self.price_plan: BatteryPricePlan | None = None
        # Why the prices cannot be read now (None: they can, or none are set).
        self.price_problem: str | None = None
        self._planned_from: tuple[tuple[float, ...], tuple[int, ...]] | None = None
        self._started = dt_util.utcnow()
        self._prices_read = False
        # Whose plan the last step followed (for a line in the log on a change).
        self._follows: str | None = None

    @override
    async def _async_setup(self) -> None:
        """Restore the manager from its saved state, or start it anew.

        Without a saved state (a new entry, or a file that could not be
        read) the manager starts from the battery's rested voltage and says
        so in its status; it never does that when a saved state exists.
        """
        now = dt_util.utcnow()
        settings = settings_from_options(self.config_entry.options)
        self.manager = await self.async_restore(
            lambda saved: self._restored(settings, now, saved)
        )

    def _restored(
        self,
        settings: BatteryManagerSettings,
        now: datetime,
        saved: dict[str, Any] | None,
    ) -> BatteryManager:
        """Return the manager from its saved state, and take the saved price plan."""
        manager = BatteryManager(settings, now=now, saved=saved)
        if saved is not None and self.price_settings is not None:
            try:
                self.price_plan = BatteryPricePlan.from_dict(saved["price_plan"])
            except (KeyError, TypeError, ValueError) as err:
                LOGGER.debug("%s: no saved price plan (%s)", self.name, err)
        return manager

    @override
    async def _async_update_data(self) -> BatteryStatus:
        """Run one step: read inputs, step the manager, act on the outcome."""
        now = dt_util.utcnow()
        devices = self._battery_devices()
        reserve = async_battery_reserve(self.hass, now, devices)
        reserve_soc = reserve.soc if reserve else None
        # A flexible loads entry that plans this battery with its loads
        # takes the site-plan layer; the own price plan is the fallback.
        loads_plan = async_loads_plan(self.hass, now, self.config_entry.entry_id)
        follows: str | None
        planned_by: str | None
        if loads_plan is not None:
            plan: BatteryPricePlan | None = loads_plan.plan
            follows, planned_by = FOLLOWS_LOADS_PLAN, loads_plan.source
        else:
            plan = await self._async_price_plan(now, reserve)
            follows, planned_by = FOLLOWS_OWN_PRICES, self.config_entry.title
        if plan is None:
            follows = planned_by = None
        if follows != self._follows:
            LOGGER.info("%s: follows %s", self.name, planned_by or "its windows")
            self._follows = follows
        sample = self._sample(now)
        status = self.manager.update(
            now,
            sample,
            reserve_soc=reserve_soc,
            plan=plan.directive(now) if plan is not None else None,
        )
        status = replace(
            status, price_plan=plan, follows=follows, planned_by=planned_by
        )
        async_post_battery(
            self.hass,
            self.config_entry.entry_id,
            self._plannable(now, status, sample, devices),
        )
        if status.transition is not None:
            self._fire_transition(status.transition)
        await self.async_apply_outputs(
            status.state,
            Why(layer=layer_of(status.reason), reason=status.reason),
            share=self._planned_share(now, plan, status),
        )
        self.schedule_save()
        return status

    def _planned_share(
        self, now: datetime, plan: BatteryPricePlan | None, status: BatteryStatus
    ) -> float:
        """Return the share of its setpoint the plan's slot asks of the state now.

        A plan that charges or sells at part of the battery's power in a
        slot (a slot's cheapest share, an hour's netting met in a quarter)
        gets that part, not the state's full setpoint; anything else (the
        windows, safety, a request) the full setpoint.
        """
        slot = plan.slot_at(now) if plan is not None else None
        if (
            slot is None
            or slot.mode is not status.state
            or slot.reason is not status.reason
            or status.state is BatteryState.REST
        ):
            return 1.0
        charge_w, discharge_w = self._powers()
        power = charge_w if status.state is BatteryState.CHARGE else discharge_w
        if power <= 0:
            return 1.0
        return min(abs(slot.battery_w) / power, 1.0)

    async def _async_price_plan(
        self, now: datetime, reserve: BatteryReserve | None
    ) -> BatteryPricePlan | None:
        """Return the price plan for now: read the prices, plan again when due.

        Prices that cannot be read mean no plan (the time windows decide)
        and a repair issue; never a guess.
        """
        settings = self.price_settings
        if settings is None:
            return None
        try:
            source, end = await self._async_prices(now, settings)
        except PriceSourceError as err:
            restored = self.price_plan
            if (
                not self._prices_read
                and now - self._started < START_GRACE
                and restored is not None
                and restored.slot_at(now) is not None
            ):
                return restored
            self._price_failed(str(err))
            return None
        self._prices_read = True
        if self.price_problem is not None:
            LOGGER.info("%s: prices can be read again", self.name)
            self.price_problem = None
        start = now.replace(second=0, microsecond=0)
        start -= timedelta(minutes=start.minute % (SLOT // timedelta(minutes=1)))
        slots = max(math.ceil((end - start) / SLOT), 1)
        try:
            imports, _ = Tariff(source, source, netting_minutes=0).prices(
                start, SLOT, slots
            )
        except TariffError as err:
            self._price_failed(str(err))
            return None
        planned_from = (tuple(imports), _reserve_key(reserve))
        plan = self.price_plan
        if (
            plan is not None
            and plan.slot_at(now) is not None
            and now - plan.made_at < PLAN_EVERY
            and self._planned_from is not None
            and self._same_inputs(planned_from, start, plan)
        ):
            return plan
        # HiGHS in a worker thread, as the loads' planner: the loop goes on.
        made = await self.hass.async_add_executor_job(
            partial(self._plan, now, start, imports, reserve, settings)
        )
        if made is not None:
            self.price_plan = made
            self._planned_from = planned_from
        return made

    def _same_inputs(
        self,
        planned_from: tuple[tuple[float, ...], tuple[int, ...]],
        start: datetime,
        plan: BatteryPricePlan,
    ) -> bool:
        """Return whether the prices and reserve are those the plan was made from."""
        assert self._planned_from is not None
        before, reserve_before = self._planned_from
        prices, reserve = planned_from
        offset = round((start - plan.slots[0].start) / SLOT)
        return prices == before[offset : offset + len(prices)] and (
            reserve == reserve_before
        )

    async def _async_prices(
        self, now: datetime, settings: PricePlanSettings
    ) -> tuple[PriceSource, datetime]:
        """Return the import prices and where they end; raise PriceSourceError."""
        if self.price_reader is None:
            assert settings.fixed is not None
            return settings.fixed, now + FIXED_HORIZON
        series = await self.price_reader.async_read(now)
        if series.at(now) is None:
            raise PriceSourceError(
                f"{self.price_reader.entity_id}: no price for {now.isoformat()}"
            )
        return series, min(series.end, now + HORIZON_MAX)

    def _price_failed(self, problem: str) -> None:
        """Drop the plan for prices that cannot be read; say so once."""
        if problem != self.price_problem:
            LOGGER.warning(
                "%s: prices cannot be read, the time windows decide: %s",
                self.name,
                problem,
            )
        self.price_problem = problem
        self.price_plan = None
        self._planned_from = None

    def _plan(
        self,
        now: datetime,
        start: datetime,
        imports: list[float],
        reserve: BatteryReserve | None,
        settings: PricePlanSettings,
    ) -> BatteryPricePlan | None:
        """Return a new plan from the battery's state now, None when there is none."""
        status = self.manager.status
        battery = self.manager.settings
        if status.soc is None:
            return None
        capacity_wh = battery.capacity_ah * nominal_voltage(battery)
        charge_w, discharge_w = self._powers()
        try:
            return plan_battery(
                PricePlanRequest(
                    start=start,
                    import_prices=imports,
                    capacity_wh=capacity_wh,
                    energy_wh=status.soc / 100 * capacity_wh,
                    floor_wh=battery.soc_floor / 100 * capacity_wh,
                    ceiling_wh=battery.soc_ceiling / 100 * capacity_wh,
                    charge_w=charge_w,
                    discharge_w=discharge_w,
                    round_trip_efficiency=settings.round_trip_efficiency,
                    cycle_cost_per_kwh=settings.cycle_cost_per_kwh,
                    reserve_wh=(reserve.soc if reserve else 0.0) / 100 * capacity_wh,
                    reserve_ahead_wh=_reserve_by_slot(
                        reserve, start, len(imports), capacity_wh
                    ),
                ),
                now,
            )
        except PricePlanError as err:
            LOGGER.warning("%s: no price plan: %s", self.name, err)
            return None

    def _powers(self) -> tuple[float, float]:
        """Return the battery's charge and discharge power: setpoints, limits or C/2."""
        battery = self.manager.settings
        volts = nominal_voltage(battery)
        data = self.config_entry.data

        def power(setpoint_key: str, current_a: float | None) -> float:
            """Return the battery's power one way."""
            if data.get(CONF_SETPOINT_ENTITY) and data.get(setpoint_key):
                return abs(float(data[setpoint_key]))
            if current_a:
                return current_a * volts
            return DEFAULT_C_RATE * battery.capacity_ah * volts

        return (
            power(CONF_SETPOINT_CHARGE, battery.max_charge_current_a),
            power(CONF_SETPOINT_SELL, battery.max_discharge_current_a),
        )

    def _plannable(
        self,
        now: datetime,
        status: BatteryStatus,
        sample: BatterySample,
        devices: frozenset[str],
    ) -> PlannableBattery | None:
        """Return what a planner needs of the battery now (None: its SOC is unknown)."""
        if status.soc is None:
            return None
        battery = self.manager.settings
        volts = nominal_voltage(battery)
        capacity_wh = battery.capacity_ah * volts
        charge_w, discharge_w = self._powers()
        floor = max(battery.soc_floor, status.reserve_soc or 0.0)
        power_w = sample.power_w
        if sample.current_a is not None and sample.voltage_v is not None:
            power_w = sample.current_a * sample.voltage_v
        return PlannableBattery(
            at=now,
            entry_id=self.config_entry.entry_id,
            source=self.config_entry.title,
            devices=devices,
            capacity_wh=capacity_wh,
            energy_wh=status.soc / 100 * capacity_wh,
            floor_wh=min(floor, battery.soc_ceiling) / 100 * capacity_wh,
            ceiling_wh=battery.soc_ceiling / 100 * capacity_wh,
            charge_w=charge_w,
            discharge_w=discharge_w,
            round_trip_efficiency=float(
                self.config_entry.options.get(
                    SETTING_ROUND_TRIP_EFFICIENCY, DEFAULT_ROUND_TRIP_EFFICIENCY
                )
            )
            / 100,
            power_w=power_w,
        )

    def _battery_devices(self) -> frozenset[str]:
        """Return the devices of the battery's inputs and outputs.

        Read each step: a device added after this entry still counts.
        """
        data = self.config_entry.data
        return entity_devices(
            self.hass,
            (
                *(
                    data.get(key)
                    for key in (
                        CONF_VOLTAGE_ENTITY,
                        CONF_CURRENT_ENTITY,
                        CONF_POWER_ENTITY,
                        CONF_BMS_SOC_ENTITY,
                    )
                ),
                *self.outputs,
            ),
        )

    def _sample(self, now: datetime) -> BatterySample:
        """Read the battery's inputs; an untrustworthy one is None."""
        data = self.config_entry.data
        return BatterySample(
            voltage_v=read_input(
                self.hass, data.get(CONF_VOLTAGE_ENTITY), InputQuantity.VOLTAGE, now
            ),
            current_a=read_input(
                self.hass, data.get(CONF_CURRENT_ENTITY), InputQuantity.CURRENT, now
            ),
            power_w=read_input(
                self.hass, data.get(CONF_POWER_ENTITY), InputQuantity.POWER, now
            ),
            temperature_c=read_input(
                self.hass,
                data.get(CONF_TEMPERATURE_ENTITY),
                InputQuantity.TEMPERATURE,
                now,
            ),
            bms_soc=read_input(
                self.hass, data.get(CONF_BMS_SOC_ENTITY), InputQuantity.PERCENT, now
            ),
        )

    def _fire_transition(self, transition: Transition) -> None:
        """Tell automations and the logbook about a state transition."""
        self.hass.bus.async_fire(
            EVENT_BATTERY_TRANSITION,
            {
                "config_entry_id": self.config_entry.entry_id,
                "name": self.config_entry.title,
                "from_state": transition.from_state,
                "to_state": transition.to_state,
                "reason": transition.reason,
                "detail": transition.detail,
            },
        )

    async def async_apply_outputs(
        self, state: BatteryState, why: Why | None = None, *, share: float = 1.0
    ) -> None:
        """Bring every output to its value for ``state``, for the reason ``why``.

        The setpoint takes ``share`` of the way from its rest value to the
        state's (both within the number's range, so is every value between).
        An output that fails is logged once and retried next step; the
        others are still set, so one unavailable switch does not keep an
        inverter selling. A setpoint is rewritten before a device lets it
        lapse.
        """
        now = dt_util.utcnow()
        setpoint = self.config_entry.data.get(CONF_SETPOINT_ENTITY)
        for entity_id, values in self.outputs.items():
            value = values[state]
            if entity_id == setpoint and share < 1.0:
                rest = float(values[BatteryState.REST])
                value = round(rest + (float(value) - rest) * share, 1)
            await self.writer.async_write(entity_id, value, now, why=why)

    async def async_request_mode(
        self, mode: BatteryMode, until: datetime | None = None
    ) -> None:
        """Ask for a mode (the select, an action); act on it at once."""
        now = dt_util.utcnow()
        self.manager.request_mode(now, mode, until)
        await self.async_refresh()

    async def async_calibrate_soc(self, soc_percent: float) -> None:
        """Set the state of charge to a known value (the calibrate action)."""
        self.manager.calibrate_soc(dt_util.utcnow(), soc_percent)
        await self.async_refresh()

    async def async_update_settings(self, changes: Mapping[str, Any]) -> None:
        """Apply changed settings after checking them with the others; keep them.

        Raises ServiceValidationError (translated) and changes nothing when the
        result would not work.
        """
        entry = self.config_entry
        options, errors, placeholders = validate_options({**entry.options, **changes})
        if errors:
            field, code = next(iter(errors.items()))
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_settings",
                translation_placeholders={
                    "error": placeholders["error"] or f"{field}: {code}"
                },
            )
        self.manager.apply_settings(settings_from_options(options))
        self.hass.config_entries.async_update_entry(entry, options=options)
        await self.async_refresh()

    @override
    def snapshot(self) -> dict[str, Any]:
        """Return the manager's state for the Store, and the price plan's."""
        saved = self.manager.snapshot()
        if self.price_plan is not None:
            saved["price_plan"] = self.price_plan.as_dict()
        return saved

    @override
    async def async_stop_steering(self) -> None:
        """Set the outputs to rest and write the count at once.

        Called when the entry unloads or Home Assistant stops. Nothing is left
        charging or selling on a decision nobody will revisit.
        """
        async_post_battery(self.hass, self.config_entry.entry_id, None)
        try:
            await self.async_apply_outputs(BatteryState.REST, TO_SAFE_STATE)
        finally:
            await self.async_save_now()


def _reserve_key(reserve: BatteryReserve | None) -> tuple[int, ...]:
    """Return a reserve and its schedule in whole points: a change worth a new plan."""
    if reserve is None:
        return ()
    return (round(reserve.soc), *(round(soc) for _, soc in reserve.ahead))


def _reserve_by_slot(
    reserve: BatteryReserve | None, start: datetime, slots: int, capacity_wh: float
) -> list[float] | None:
    """Return the energy peak shaving's schedule needs at each slot's end (Wh)."""
    if reserve is None or not reserve.ahead:
        return None
    needed = []
    for index in range(slots):
        end = start + (index + 1) * SLOT
        socs = [soc for moment, soc in reserve.ahead if moment <= end]
        # Past the schedule's end, it needs nothing.
        past = end > reserve.ahead[-1][0]
        needed.append(0.0 if past or not socs else socs[-1] / 100 * capacity_wh)
    return needed


@dataclass(kw_only=True)
class BatteryManagerRuntimeData:
    """Runtime data of a battery manager entry."""

    coordinator: BatteryManagerCoordinator
    device_info: DeviceInfo
