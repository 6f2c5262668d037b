"""Config flow: add a device by how it is reached, after probing it; or a controller.

The device forms and the probe live in ``device/flow.py``; each controller's
form, checks and options flow beside it in its own package.
"""

from collections.abc import Callable, Mapping
from typing import Any, override

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.const import CONF_NAME
from homeassistant.core import callback
from homeassistant.data_entry_flow import UnknownHandler
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
import probatio

from .battery_manager.flow import STEP_BATTERY_MANAGER, validate_battery_manager
from .const import (
    CONF_CONNECTION,
    CONF_FAMILY,
    CONF_KIND,
    CONF_NODE,
    CONF_PREFIX,
    CONF_VRM_BACKFILL,
    CONNECTION_CAN,
    CONNECTION_SERIAL,
    CONNECTION_TCP,
    DOMAIN,
    KIND_BATTERY_MANAGER,
    KIND_DEVICE,
    KIND_FLEXIBLE_LOADS,
    KIND_PEAK_SHAVING,
    KIND_REMOTE_NODE,
    KIND_SITE,
    KIND_SITE_REPORT,
    KIND_WALLBOX_MANAGER,
)
from .controller.flow import ControllerForm, not_numbers
from .device.flow import (
    async_probe,
    connection_schema,
    family_schema,
    flatten,
    form_placeholders,
    needs_relink,
    sectioned,
)
from .device.links import unique_id_for
from .flexible_loads import flow as loads_flow
from .kinds import KINDS, async_claimed_output, kind_of
from .lib.drivers.families import FAMILIES, Family, Transport, families_reached_over
from .peak_shaving import flow as peak_flow
from .remote_node.flow import (
    STEP_REMOTE_NODE,
    async_find_nodes,
    is_component_config,
    parse_config_topic,
    pick_schema,
)
from .remote_node.mqtt import async_mqtt_ready
from .remote_node.runtime import node_id
from .site_report import flow as site_report_flow
from .site_view.flow import STEP_SITE
from .wallbox_manager import flow as wallbox_flow


class EnergyOrchestratorConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a device: pick the link and the family, give its address, probe it."""

    VERSION = 1
    # 1.2: an entry's kind and a device's connection are two fields.
    MINOR_VERSION = 2

    # The family chosen in the first device form, for the second.
    _family: Family
    # The site report's first form, for its VRM step.
    _site_report: dict[str, Any]
    # A remote node's prefix and name, and the nodes found on the broker.
    _prefix: str
    _node: str
    _discovered_comp: str
    _nodes: dict[str, list[str]]

    @override
    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask how the device is reached, or which controller to add."""
        return self.async_show_menu(
            step_id="user",
            menu_options=[
                CONNECTION_TCP,
                CONNECTION_SERIAL,
                CONNECTION_CAN,
                KIND_BATTERY_MANAGER,
                KIND_PEAK_SHAVING,
                KIND_WALLBOX_MANAGER,
                KIND_FLEXIBLE_LOADS,
                KIND_SITE_REPORT,
                KIND_SITE,
                KIND_REMOTE_NODE,
            ],
        )

    async def async_step_remote_node(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask the topic prefix of the nodes, then list those found on the broker."""
        if not await async_mqtt_ready(self.hass):
            return self.async_abort(reason="mqtt_not_configured")
        errors: dict[str, str] = {}
        if user_input is not None:
            self._prefix = user_input[CONF_PREFIX].strip().strip("/")
            configured = {
                entry.unique_id
                for entry in self._async_current_entries(include_ignore=False)
            }
            self._nodes = {
                node: comps
                for node, comps in (
                    await async_find_nodes(self.hass, self._prefix)
                ).items()
                if node_id(self._prefix, node) not in configured
            }
            if self._nodes:
                return await self.async_step_remote_node_pick()
            errors["base"] = "no_nodes"
        return self.async_show_form(
            step_id=KIND_REMOTE_NODE,
            data_schema=self.add_suggested_values_to_schema(
                STEP_REMOTE_NODE, user_input or {}
            ),
            errors=errors,
        )

    async def async_step_remote_node_pick(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add one of the nodes found."""
        if user_input is not None:
            return await self._async_create_remote_node(
                self._prefix, user_input[CONF_NODE]
            )
        return self.async_show_form(
            step_id="remote_node_pick",
            data_schema=pick_schema(self._nodes),
            description_placeholders={"prefix": self._prefix},
        )

    async def async_step_mqtt(
        self, discovery_info: MqttServiceInfo
    ) -> ConfigFlowResult:
        """Offer a node whose component's retained config arrived (MQTT discovery).

        One entry per node: a further component of a node that is known, or
        being confirmed, aborts; the node's entry picks it up itself.
        """
        where = parse_config_topic(discovery_info.topic)
        if where is None or not is_component_config(discovery_info.payload):
            return self.async_abort(reason="invalid_discovery_info")
        prefix, node, comp = where
        await self.async_set_unique_id(node_id(prefix, node))
        self._abort_if_unique_id_configured()
        self._prefix, self._node = prefix, node
        self.context["title_placeholders"] = {"node": node}
        self._discovered_comp = comp
        return await self.async_step_remote_node_confirm()

    async def async_step_remote_node_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask the user to add the discovered node."""
        if user_input is not None:
            if not await async_mqtt_ready(self.hass):
                return self.async_abort(reason="mqtt_not_configured")
            return await self._async_create_remote_node(self._prefix, self._node)
        return self.async_show_form(
            step_id="remote_node_confirm",
            description_placeholders={
                "node": self._node,
                "prefix": self._prefix,
                "comp": self._discovered_comp,
            },
        )

    async def _async_create_remote_node(
        self, prefix: str, node: str
    ) -> ConfigFlowResult:
        """Create a node's entry; one per node."""
        await self.async_set_unique_id(node_id(prefix, node), raise_on_progress=False)
        self._abort_if_unique_id_configured()
        return self.async_create_entry(
            title=node,
            data={CONF_KIND: KIND_REMOTE_NODE, CONF_PREFIX: prefix, CONF_NODE: node},
        )

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Return the settings form of a controller."""
        options_flow = kind_of(config_entry).options_flow
        if options_flow is None:
            raise UnknownHandler
        return options_flow()

    @classmethod
    @callback
    def async_supports_options_flow(cls, config_entry: ConfigEntry) -> bool:
        """Return whether the entry has settings: controllers do, devices not."""
        return kind_of(config_entry).options_flow is not None

    @classmethod
    @callback
    @override
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Return what an entry can have parts of: peak shaving, further batteries."""
        return dict(kind_of(config_entry).subentry_flows)

    async def async_step_peak_shaving(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add peak shaving: the grid meter, the battery, its setpoint, the limits."""
        return await self._async_step_controller(
            KIND_PEAK_SHAVING,
            peak_flow.STEP_PEAK_SHAVING,
            lambda form: peak_flow.validate_peak_shaving(self.hass, form),
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
            KIND_WALLBOX_MANAGER,
            wallbox_flow.STEP_WALLBOX_MANAGER,
            lambda form: wallbox_flow.validate_wallbox_manager(self.hass, form),
            user_input,
        )

    async def async_step_flexible_loads(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add flexible loads: the grid meter, the tariff; the loads come after."""
        return await self._async_step_controller(
            KIND_FLEXIBLE_LOADS,
            loads_flow.STEP_FLEXIBLE_LOADS,
            lambda form: loads_flow.validate_flexible_loads(self.hass, form),
            user_input,
            errors=await loads_flow.async_check_flexible_loads(self.hass, user_input),
        )

    async def async_step_battery_manager(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add a battery manager: its battery, its inputs and its outputs."""
        return await self._async_step_controller(
            KIND_BATTERY_MANAGER,
            STEP_BATTERY_MANAGER,
            lambda form: validate_battery_manager(self.hass, form),
            user_input,
        )

    async def async_step_site_report(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add a site report: the site's energy entities by role.

        Where VRM's history is wanted, its settings are a step of their own.
        """
        if user_input is not None and user_input.get(CONF_VRM_BACKFILL):
            self._site_report = site_report_flow.validate_site_report(user_input)[0]
            return await self.async_step_site_report_vrm()
        return await self._async_step_controller(
            KIND_SITE_REPORT,
            site_report_flow.STEP_SITE_REPORT,
            site_report_flow.validate_site_report,
            user_input,
        )

    async def async_step_site(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add the site device: there is one, it needs only a name."""
        if any(
            entry.data.get(CONF_KIND) == KIND_SITE
            for entry in self._async_current_entries(include_ignore=False)
        ):
            return self.async_abort(reason="site_exists")
        if user_input is None:
            return self.async_show_form(step_id=KIND_SITE, data_schema=STEP_SITE)
        return self.async_create_entry(
            title=user_input[CONF_NAME], data={CONF_KIND: KIND_SITE}
        )

    async def async_step_site_report_vrm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take VRM's token and site, once VRM takes them (it is Victron's cloud)."""
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if user_input is not None:
            vrm, errors, placeholders = await site_report_flow.async_validate_vrm(
                self.hass, self._site_report, user_input
            )
            if not errors:
                data = self._site_report | vrm
                title = data.pop(CONF_NAME)
                return self.async_create_entry(
                    title=title, data={CONF_KIND: KIND_SITE_REPORT, **data}
                )
        return self.async_show_form(
            step_id=site_report_flow.STEP_VRM,
            data_schema=self.add_suggested_values_to_schema(
                site_report_flow.STEP_SITE_REPORT_VRM, user_input or {}
            ),
            errors=errors,
            description_placeholders=placeholders,
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
        if user_input is not None and (not_a_number := not_numbers(user_input)):
            errors |= not_a_number
        elif user_input is not None:
            data, options, form_errors, placeholders = validate(user_input)
            errors |= form_errors
            outputs = KINDS[kind].outputs(data)
            if not errors and (claimed := async_claimed_output(self.hass, outputs)):
                errors["base"] = "output_in_use"
                placeholders["error"] = claimed
            elif not errors:
                # No other entry drives the outputs: the first names this one.
                if outputs:
                    await self.async_set_unique_id(outputs[0])
                title = data.pop(CONF_NAME)
                return self.async_create_entry(
                    title=title, data={CONF_KIND: kind, **data}, options=options
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
        """Ask which family the device on the network is of."""
        if (family := self._chosen_family(user_input)) is not None:
            self._family = family
            return await self.async_step_tcp_connection()
        return self._show_families(CONNECTION_TCP, user_input)

    async def async_step_serial(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask which family the device on a serial port is of."""
        if (family := self._chosen_family(user_input)) is not None:
            self._family = family
            return await self.async_step_serial_connection()
        return self._show_families(CONNECTION_SERIAL, user_input)

    async def async_step_can(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask which family the device on a CAN bus is of; skip that if one is."""
        if (family := self._chosen_family(user_input)) is None:
            families = families_reached_over(Transport.CAN)
            if len(families) != 1:
                return self._show_families(CONNECTION_CAN, user_input)
            family = families[0]
        self._family = family
        return await self.async_step_can_connection()

    @staticmethod
    def _chosen_family(user_input: dict[str, Any] | None) -> Family | None:
        """Return the family the first form chose, if it chose one."""
        if user_input is None or CONF_FAMILY not in user_input:
            return None
        return FAMILIES[user_input[CONF_FAMILY]]

    def _show_families(
        self, connection_type: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """Show the families that fit; none is chosen before the user does."""
        return self.async_show_form(
            step_id=connection_type,
            data_schema=family_schema(connection_type),
            errors=None if user_input is None else {CONF_FAMILY: "family_required"},
            last_step=False,
        )

    async def async_step_tcp_connection(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Handle a device on the network (Modbus TCP or an RS485 gateway)."""
        return await self._async_step_connection(CONNECTION_TCP, user_input)

    async def async_step_serial_connection(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Handle a device on a serial port or a remote serial URL."""
        return await self._async_step_connection(CONNECTION_SERIAL, user_input)

    async def async_step_can_connection(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Handle a battery on a CAN bus (socketcan, slcan, slcan via ser2net)."""
        return await self._async_step_connection(CONNECTION_CAN, user_input)

    async def _async_step_connection(
        self, connection_type: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """Ask how the device is reached, then probe it."""
        family = self._family
        errors: dict[str, str] = {}
        placeholders = form_placeholders(family)
        if user_input is not None:
            data = flatten(connection_type, family, user_input)
            identity = await async_probe(self.hass, data, errors, placeholders)
            if identity is not None:
                await self.async_set_unique_id(unique_id_for(data, identity))
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=f"{identity.manufacturer} {identity.model}", data=data
                )
        return self.async_show_form(
            step_id=f"{connection_type}_connection",
            data_schema=self.add_suggested_values_to_schema(
                connection_schema(connection_type, family), user_input or {}
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change how a configured device is reached; it must stay the same device.

        Home Assistant offers this for every entry of the integration; a
        controller's entities are chosen when it is added, and its settings
        are its options.
        """
        entry = self._get_reconfigure_entry()
        if entry.data[CONF_KIND] == KIND_REMOTE_NODE:
            return self.async_abort(reason="remote_node_not_reconfigurable")
        if entry.data[CONF_KIND] != KIND_DEVICE:
            return self.async_abort(reason="controller_not_reconfigurable")
        connection_type = entry.data[CONF_CONNECTION]
        family = FAMILIES[entry.data[CONF_FAMILY]]
        errors: dict[str, str] = {}
        placeholders = form_placeholders(family)
        if user_input is not None:
            data = flatten(connection_type, family, user_input)
            # A serial bus runs at one baud rate: probing it at another one
            # needs this entry off the bus first, and back on if it fails.
            relinking = needs_relink(
                entry, data
            ) and await self.hass.config_entries.async_unload(entry.entry_id)
            identity = await async_probe(self.hass, data, errors, placeholders)
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
                connection_schema(connection_type, family),
                user_input or sectioned(entry.data),
            ),
            errors=errors,
            description_placeholders=placeholders,
        )
