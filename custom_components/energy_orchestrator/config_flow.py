"""Config flow: add a device by how it is reached, after probing it; or a controller.

Controllers (the battery manager) take entities as inputs and outputs; their
forms and checks live beside them in ``controllers/``.
"""

from collections.abc import Callable, Mapping
from typing import Any, override

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_NAME, CONF_PORT, CONF_TYPE
from homeassistant.core import callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    SerialPortSelector,
    TextSelector,
    TextSelectorConfig,
)
import probatio

from .const import (
    CONF_BAUDRATE,
    CONF_FAMILY,
    CONF_FRAMING,
    CONF_REGISTER_MAP,
    CONF_UNIT_ID,
    CONTROLLER_TYPES,
    DEFAULT_BAUDRATE,
    DEFAULT_PORT,
    DEFAULT_UNIT_ID,
    DOMAIN,
    FRAMING_RTU_OVER_TCP,
    FRAMING_TCP,
    LOGGER,
    TYPE_BATTERY_MANAGER,
    TYPE_PEAK_SHAVING,
    TYPE_SERIAL,
    TYPE_TCP,
    TYPE_WALLBOX_MANAGER,
)
from .controllers.battery.flow import STEP_BATTERY_MANAGER, validate_battery_manager
from .controllers.battery.settings import options_schema, validate_options
from .controllers.peak import flow as peak_flow
from .controllers.wallbox import flow as wallbox_flow
from .drivers.errors import (
    DeviceSilentError,
    LinkError,
    LinkSettingsConflictError,
    WrongDeviceError,
)
from .drivers.families import FAMILIES, Protocol, build_driver
from .drivers.values import Identity
from .helpers import async_get_link_pool, endpoint_from_data, unique_id_for

SECTION_MORE_OPTIONS = "more_options"

# What a controller's form check returns: entry data, options, errors by
# field, and the placeholders of the error texts.
type ControllerForm = tuple[
    dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]
]


def _box(minimum: int, maximum: int) -> Any:
    """Return an integer entry box validated to a range."""
    return probatio.All(
        NumberSelector(
            NumberSelectorConfig(
                min=minimum, max=maximum, step=1, mode=NumberSelectorMode.BOX
            )
        ),
        probatio.Coerce(int),
    )


def _family_selector(*protocols: Protocol) -> SelectSelector:
    """Return a dropdown of the families that speak one of these protocols."""
    return SelectSelector(
        SelectSelectorConfig(
            options=sorted(f.id for f in FAMILIES.values() if f.protocol in protocols),
            translation_key=CONF_FAMILY,
            mode=SelectSelectorMode.DROPDOWN,
        )
    )


# Only the generic family reads one: the register map a user wrote.
REGISTER_MAP_SELECTOR = TextSelector(TextSelectorConfig(multiline=True))

# Most devices answer on their factory unit id and plain Modbus TCP, so those
# settings wait in a collapsed section. Over the network, Modbus; a raw serial
# protocol through ser2net is reached as a serial port with a socket:// URL.
STEP_TCP = probatio.Schema(
    {
        probatio.Required(CONF_FAMILY): _family_selector(Protocol.MODBUS),
        probatio.Required(CONF_HOST): TextSelector(),
        probatio.Required(CONF_PORT, default=DEFAULT_PORT): _box(1, 65535),
        probatio.Required(SECTION_MORE_OPTIONS): section(
            probatio.Schema(
                {
                    probatio.Required(CONF_UNIT_ID, default=DEFAULT_UNIT_ID): _box(
                        1, 247
                    ),
                    probatio.Required(
                        CONF_FRAMING, default=FRAMING_TCP
                    ): SelectSelector(
                        SelectSelectorConfig(
                            options=[FRAMING_TCP, FRAMING_RTU_OVER_TCP],
                            translation_key=CONF_FRAMING,
                        )
                    ),
                    probatio.Optional(CONF_REGISTER_MAP): REGISTER_MAP_SELECTOR,
                }
            ),
            {"collapsed": True},
        ),
    }
)

STEP_SERIAL = probatio.Schema(
    {
        probatio.Required(CONF_FAMILY): _family_selector(
            Protocol.MODBUS, Protocol.SERIAL
        ),
        # A device path, or a pyserial URL (socket://, rfc2217://) for a bus
        # on another machine behind ser2net.
        probatio.Required(CONF_DEVICE): SerialPortSelector(),
        probatio.Required(CONF_BAUDRATE, default=DEFAULT_BAUDRATE): _box(300, 4000000),
        probatio.Required(SECTION_MORE_OPTIONS): section(
            probatio.Schema(
                {
                    probatio.Required(CONF_UNIT_ID, default=DEFAULT_UNIT_ID): _box(
                        1, 247
                    ),
                    probatio.Optional(CONF_REGISTER_MAP): REGISTER_MAP_SELECTOR,
                }
            ),
            {"collapsed": True},
        ),
    }
)


def _flatten(connection_type: str, user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Turn the sectioned form input into config entry data."""
    data = {CONF_TYPE: connection_type, **user_input}
    data.update(data.pop(SECTION_MORE_OPTIONS))
    if connection_type == TYPE_TCP:
        # One connection is shared per host and port, so spelling matters.
        data[CONF_HOST] = data[CONF_HOST].strip().lower()
    else:
        data[CONF_DEVICE] = data[CONF_DEVICE].strip()
    return data


def _sectioned(data: Mapping[str, Any]) -> dict[str, Any]:
    """Shape config entry data back into the sectioned form."""
    inner = (CONF_UNIT_ID, CONF_FRAMING, CONF_REGISTER_MAP)
    return {
        **{k: v for k, v in data.items() if k not in inner and k != CONF_TYPE},
        SECTION_MORE_OPTIONS: {k: data[k] for k in inner if k in data},
    }


class EnergyOrchestratorConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a device: pick the link, give its address, probe it."""

    VERSION = 1

    @override
    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask how the device is reached, or which controller to add."""
        return self.async_show_menu(
            step_id="user",
            menu_options=[
                TYPE_TCP,
                TYPE_SERIAL,
                TYPE_BATTERY_MANAGER,
                TYPE_PEAK_SHAVING,
                TYPE_WALLBOX_MANAGER,
            ],
        )

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Return the settings form of a controller."""
        if config_entry.data.get(CONF_TYPE) == TYPE_PEAK_SHAVING:
            return PeakShavingOptionsFlow()
        if config_entry.data.get(CONF_TYPE) == TYPE_WALLBOX_MANAGER:
            return WallboxManagerOptionsFlow()
        return BatteryManagerOptionsFlow()

    @classmethod
    @callback
    def async_supports_options_flow(cls, config_entry: ConfigEntry) -> bool:
        """Return whether the entry has settings: controllers do, devices not."""
        return config_entry.data.get(CONF_TYPE) in CONTROLLER_TYPES

    @classmethod
    @callback
    @override
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Return what an entry can have parts of: peak shaving, further batteries."""
        if config_entry.data.get(CONF_TYPE) == TYPE_PEAK_SHAVING:
            return peak_flow.SUBENTRY_FLOWS
        return {}

    async def async_step_peak_shaving(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add peak shaving: the grid meter, the battery, its setpoint, the limits."""
        return await self._async_step_controller(
            TYPE_PEAK_SHAVING,
            peak_flow.STEP_PEAK_SHAVING,
            peak_flow.validate_peak_shaving,
            user_input,
            errors=await peak_flow.async_check_pv_forecast(self.hass, user_input)
            if user_input is not None
            else None,
        )

    async def async_step_wallbox_manager(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add a wallbox manager: the meter, the wallbox's entities, the limits."""
        return await self._async_step_controller(
            TYPE_WALLBOX_MANAGER,
            wallbox_flow.STEP_WALLBOX_MANAGER,
            wallbox_flow.validate_wallbox_manager,
            user_input,
        )

    async def async_step_battery_manager(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add a battery manager: its battery, its inputs and its outputs."""
        return await self._async_step_controller(
            TYPE_BATTERY_MANAGER,
            STEP_BATTERY_MANAGER,
            lambda form: validate_battery_manager(self.hass, form),
            user_input,
        )

    async def _async_step_controller(
        self,
        kind: str,
        schema: probatio.Schema,
        validate: Callable[[Mapping[str, Any]], ControllerForm],
        user_input: dict[str, Any] | None,
        *,
        errors: dict[str, str] | None = None,
    ) -> ConfigFlowResult:
        """Show a controller's form; create the entry once it checks out.

        ``errors`` are what checks needing Home Assistant found already.
        """
        errors = dict(errors or {})
        placeholders: dict[str, str] = {"error": ""}
        if user_input is not None:
            data, options, form_errors, placeholders = validate(user_input)
            errors |= form_errors
            if not errors:
                title = data.pop(CONF_NAME)
                return self.async_create_entry(
                    title=title, data={CONF_TYPE: kind, **data}, options=options
                )
        return self.async_show_form(
            step_id=kind,
            data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_tcp(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Handle a device on the network (Modbus TCP or an RS485 gateway)."""
        return await self._async_step_link(TYPE_TCP, STEP_TCP, user_input)

    async def async_step_serial(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Handle a device on a serial port or a remote serial URL."""
        return await self._async_step_link(TYPE_SERIAL, STEP_SERIAL, user_input)

    async def _async_step_link(
        self,
        connection_type: str,
        schema: probatio.Schema,
        user_input: dict[str, Any] | None,
    ) -> ConfigFlowResult:
        """Ask for the link settings, then probe the device behind them."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"error": ""}
        if user_input is not None:
            data = _flatten(connection_type, user_input)
            identity = await self._async_probe(data, errors, placeholders)
            if identity is not None:
                await self.async_set_unique_id(unique_id_for(data, identity))
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=f"{identity.manufacturer} {identity.model}", data=data
                )
        return self.async_show_form(
            step_id=connection_type,
            data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change how a configured device is reached; it must stay the same device."""
        entry = self._get_reconfigure_entry()
        connection_type = entry.data[CONF_TYPE]
        schema = STEP_SERIAL if connection_type == TYPE_SERIAL else STEP_TCP
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"error": ""}
        if user_input is not None:
            data = _flatten(connection_type, user_input)
            # A serial bus runs at one baud rate: probing it at another one
            # needs this entry off the bus first, and back on if it fails.
            relinking = _needs_relink(
                entry, data
            ) and await self.hass.config_entries.async_unload(entry.entry_id)
            identity = await self._async_probe(data, errors, placeholders)
            if identity is not None:
                await self.async_set_unique_id(unique_id_for(data, identity))
            if relinking and (identity is None or self.unique_id != entry.unique_id):
                await self.hass.config_entries.async_setup(entry.entry_id)
            if identity is not None:
                self._abort_if_unique_id_mismatch(reason="another_device")
                return self.async_update_reload_and_abort(entry, data_updates=data)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or _sectioned(entry.data)
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_probe(
        self,
        data: Mapping[str, Any],
        errors: dict[str, str],
        placeholders: dict[str, str],
    ) -> Identity | None:
        """Probe the device; fill ``errors`` and return None when that fails."""
        try:
            endpoint = endpoint_from_data(data)
        except ValueError as err:
            errors["base"] = "invalid_address"
            placeholders["error"] = str(err)
            return None
        pool = async_get_link_pool(self.hass)
        family = FAMILIES[data[CONF_FAMILY]]
        try:
            driver = build_driver(
                pool,
                family,
                endpoint,
                data[CONF_UNIT_ID],
                data.get(CONF_REGISTER_MAP),
            )
        except LinkSettingsConflictError as err:
            errors["base"] = "bus_settings_conflict"
            placeholders["error"] = str(err)
            return None
        except ValueError as err:
            errors["base"] = (
                "invalid_register_map"
                if family.needs_register_map
                else "invalid_address"
            )
            placeholders["error"] = str(err)
            return None
        try:
            return await driver.async_identify()
        except DeviceSilentError as err:
            errors["base"] = "no_response"
            placeholders["error"] = str(err)
            # The commonest cause on a serial bus: the wrong line speed.
            baudrate = data.get(CONF_BAUDRATE)
            if baudrate is not None and baudrate != family.default_baudrate:
                placeholders["error"] += (
                    f" ({family.name} usually runs at {family.default_baudrate}"
                    f" baud, not {baudrate})"
                )
        except LinkError as err:
            errors["base"] = "cannot_connect"
            placeholders["error"] = str(err)
        except WrongDeviceError as err:
            errors["base"] = "wrong_device"
            placeholders["error"] = str(err)
        except Exception as err:
            LOGGER.exception("Unexpected error probing %s", endpoint)
            errors["base"] = "unknown"
            placeholders["error"] = str(err)
        finally:
            await pool.release(driver.link)
        return None


def _needs_relink(entry: ConfigEntry, data: Mapping[str, Any]) -> bool:
    """Return whether probing ``data`` clashes with the entry's own open link."""
    if entry.state not in (ConfigEntryState.LOADED, ConfigEntryState.SETUP_RETRY):
        return False
    try:
        current = endpoint_from_data(entry.data)
        new = endpoint_from_data(data)
    except ValueError:
        return False
    return current.bus_key == new.bus_key and current.serial != new.serial


class ControllerOptionsFlow(OptionsFlowWithReload):
    """Edit a controller's settings; the entry reloads with them."""

    step_id: str
    schema: Callable[[], probatio.Schema]
    validate: Callable[
        [Mapping[str, Any]], tuple[dict[str, Any], dict[str, str], dict[str, str]]
    ]

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the settings; refuse a combination that cannot work."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"error": ""}
        if user_input is not None:
            options, errors, placeholders = self.validate_input(user_input)
            if not errors:
                return self.async_create_entry(data=options)
        return self.async_show_form(
            step_id=self.step_id,
            data_schema=self.add_suggested_values_to_schema(
                type(self).schema(), user_input or self.config_entry.options
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    def validate_input(
        self, user_input: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
        """Check the form; return options, errors, placeholders."""
        return type(self).validate(user_input)


class BatteryManagerOptionsFlow(ControllerOptionsFlow):
    """Edit a battery manager's thresholds, chemistry, capacity and limits."""

    step_id = "init"
    schema = staticmethod(options_schema)
    validate = staticmethod(validate_options)


class PeakShavingOptionsFlow(ControllerOptionsFlow):
    """Edit peak shaving's battery and limits (a step of their own, for their texts)."""

    step_id = TYPE_PEAK_SHAVING
    schema = staticmethod(peak_flow.options_schema)
    # The entry reloads from its update listener, which also sees its
    # batteries (subentries) come, change and go.
    automatic_reload = False

    @override
    def validate_input(
        self, user_input: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
        """Check the settings against the inputs the entry was added with."""
        return peak_flow.validate_options(user_input, self.config_entry.data)

    async def async_step_peak_shaving(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take the form back: its step is named for its texts."""
        return await self.async_step_init(user_input)


class WallboxManagerOptionsFlow(ControllerOptionsFlow):
    """Edit the wallbox manager's limits (a step of their own, for their texts)."""

    step_id = TYPE_WALLBOX_MANAGER
    schema = staticmethod(wallbox_flow.options_schema)
    validate = staticmethod(wallbox_flow.validate_options)

    async def async_step_wallbox_manager(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take the form back: its step is named for its texts."""
        return await self.async_step_init(user_input)
