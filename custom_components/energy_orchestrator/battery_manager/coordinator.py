"""The coordinator that steps a battery manager and carries out its decisions.

Every step it reads the battery's voltage and current (or power) from their
entities, hands them to the HA-free manager in ``lib/control/``, fires an
event on every state transition, writes the state's outputs (an inverter
mode, a setpoint, charge and discharge switches) and schedules the manager's
state for saving, so a restart resumes the count instead of guessing from
voltage.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
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
from ..controller.inputs import InputQuantity, read_input
from ..controller.site_decisions import TO_SAFE_STATE, Why
from ..controller.site_limits import async_battery_reserve, entity_devices
from ..lib.control.battery_manager import (
    BatteryManager,
    BatteryMode,
    BatterySample,
    BatteryState,
    BatteryStatus,
    Transition,
)
from ..lib.control.reason_layers import layer_of
from .settings import settings_from_options, validate_options

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
            lambda saved: BatteryManager(settings, now=now, saved=saved)
        )

    @override
    async def _async_update_data(self) -> BatteryStatus:
        """Run one step: read inputs, step the manager, act on the outcome."""
        now = dt_util.utcnow()
        reserve = async_battery_reserve(self.hass, now, self._battery_devices())
        status = self.manager.update(
            now, self._sample(now), reserve_soc=reserve.soc if reserve else None
        )
        if status.transition is not None:
            self._fire_transition(status.transition)
        await self.async_apply_outputs(
            status.state, Why(layer=layer_of(status.reason), reason=status.reason)
        )
        self.schedule_save()
        return status

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
        self, state: BatteryState, why: Why | None = None
    ) -> None:
        """Bring every output to its value for ``state``, for the reason ``why``.

        An output that fails is logged once and retried next step; the
        others are still set, so one unavailable switch does not keep an
        inverter selling. A setpoint is rewritten before a device lets it
        lapse.
        """
        now = dt_util.utcnow()
        for entity_id, values in self.outputs.items():
            await self.writer.async_write(entity_id, values[state], now, why=why)

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
        """Return the manager's state for the Store."""
        return self.manager.snapshot()

    @override
    async def async_stop_steering(self) -> None:
        """Set the outputs to rest and write the count at once.

        Called when the entry unloads or Home Assistant stops. Nothing is left
        charging or selling on a decision nobody will revisit.
        """
        try:
            await self.async_apply_outputs(BatteryState.REST, TO_SAFE_STATE)
        finally:
            await self.async_save_now()


@dataclass(kw_only=True)
class BatteryManagerRuntimeData:
    """Runtime data of a battery manager entry."""

    coordinator: BatteryManagerCoordinator
    device_info: DeviceInfo
