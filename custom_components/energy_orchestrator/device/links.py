"""Links for device entries and probes: Home Assistant's shared Modbus connections.

A Modbus gateway or bus is one connection for everything in Home Assistant
that talks to it: the ``modbus`` integration holds it and hands out units
(``async_get_unit`` for an entry, ``async_get_temporary_unit`` for a probe),
so this integration and core's SolarEdge, Fronius or Sofar integrations
share a gateway that takes one client. A raw serial port (Voltronic,
Pylontech, JK, Daly) is this integration's own, shared by its entries
through one ``SerialLinkPool``; one port carries one protocol.
"""

from abc import ABC, abstractmethod
from collections.abc import Mapping
from contextlib import AsyncExitStack
from functools import partial
from typing import Any

from homeassistant.components.modbus import (
    async_get_temporary_unit,
    async_get_unit,
)
from homeassistant.components.modbus.connection import (
    ModbusConnectionInfo,
    async_get_connection_info,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util.hass_dict import HassKey

from ..const import (
    CONF_BAUDRATE,
    CONF_BITRATE,
    CONF_CHANNEL,
    CONF_CONNECTION,
    CONF_FAMILY,
    CONF_FRAMING,
    CONF_INTERFACE,
    CONF_UNIT_ID,
    CONNECTION_CAN,
    CONNECTION_SERIAL,
    DOMAIN,
    FRAMING_TCP,
)
from ..lib.drivers.errors import LinkSettingsConflictError
from ..lib.drivers.families import FAMILIES, Protocol
from ..lib.drivers.transport.can_link import CanChannel
from ..lib.drivers.transport.endpoint import Endpoint, parse_endpoint
from ..lib.drivers.transport.modbus import ModbusLink, modbus_params
from ..lib.drivers.transport.pool import SerialLinkPool, protocol_conflict
from ..lib.drivers.transport.serial_link import SerialLink
from ..lib.drivers.transport.unit import ModbusUnit, UnitSource
from ..lib.drivers.values import Identity

DATA_SERIAL_LINKS: HassKey[SerialLinkPool] = HassKey(f"{DOMAIN}_serial_links")


def async_get_serial_links(hass: HomeAssistant) -> SerialLinkPool:
    """Return the pool every entry and every probe takes a raw serial port from."""
    if (pool := hass.data.get(DATA_SERIAL_LINKS)) is None:
        pool = hass.data[DATA_SERIAL_LINKS] = SerialLinkPool()
    return pool


def _settings_conflict(endpoint: Endpoint, err: HomeAssistantError) -> Exception:
    """Return the error for a Modbus connection held at other line settings."""
    return LinkSettingsConflictError(
        f"{endpoint} is already in use at other line settings; one bus runs at"
        f" one baud rate and framing ({err})"
    )


class _SharedLinks(ABC):
    """What entries and probes share: the conflict checks between protocols."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Use the Home Assistant instance's connections and serial ports."""
        self.hass = hass
        self.serial_links = async_get_serial_links(hass)

    def acquire_modbus(self, endpoint: Endpoint) -> ModbusLink:
        """Return a Modbus link on the shared connection of the endpoint."""
        if self.serial_links.holds(endpoint.address):
            raise protocol_conflict(endpoint.address)
        return ModbusLink(endpoint, self._units(endpoint))

    def acquire_serial(self, endpoint: Endpoint) -> SerialLink:
        """Return the raw serial link of a port no Modbus connection holds."""
        serial_endpoint = ("serial", endpoint.address)
        if any(
            info.endpoint == serial_endpoint
            for info in async_get_connection_info(self.hass)
        ):
            raise protocol_conflict(endpoint.address)
        return self.serial_links.acquire(endpoint)

    @abstractmethod
    def _units(self, endpoint: Endpoint) -> UnitSource:
        """Return where a link to the endpoint takes its units."""


class EntryLinks(_SharedLinks):
    """The links of a device entry, held until the entry unloads."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
        """Tie every hold to the entry."""
        super().__init__(hass)
        self.entry = entry

    def acquire_modbus(self, endpoint: Endpoint) -> ModbusLink:
        """Return a Modbus link whose units the entry holds until it unloads."""
        link = super().acquire_modbus(endpoint)
        self.entry.async_on_unload(link.close)
        return link

    def acquire_serial(self, endpoint: Endpoint) -> SerialLink:
        """Return a serial link given back when the entry unloads."""
        link = super().acquire_serial(endpoint)
        self.entry.async_on_unload(partial(self.serial_links.release, link))
        return link

    def _units(self, endpoint: Endpoint) -> UnitSource:
        """Return units on the shared connection, held by the entry."""
        params = modbus_params(endpoint)

        async def unit(unit_id: int) -> ModbusUnit:
            try:
                return async_get_unit(self.hass, self.entry, params, unit_id)
            except HomeAssistantError as err:
                raise _settings_conflict(endpoint, err) from err

        return unit


class ProbeLinks(_SharedLinks):
    """The links of one probe, given back when its stack closes."""

    def __init__(self, hass: HomeAssistant, stack: AsyncExitStack) -> None:
        """Give every hold back with ``stack``."""
        super().__init__(hass)
        self.stack = stack

    def acquire_modbus(self, endpoint: Endpoint) -> ModbusLink:
        """Return a Modbus link on temporary units."""
        link = super().acquire_modbus(endpoint)
        self.stack.push_async_callback(link.close)
        return link

    def acquire_serial(self, endpoint: Endpoint) -> SerialLink:
        """Return a serial link given back after the probe."""
        link = super().acquire_serial(endpoint)
        self.stack.push_async_callback(self.serial_links.release, link)
        return link

    def _units(self, endpoint: Endpoint) -> UnitSource:
        """Return temporary units on the shared connection."""
        params = modbus_params(endpoint)

        async def unit(unit_id: int) -> ModbusUnit:
            try:
                return await self.stack.enter_async_context(
                    async_get_temporary_unit(self.hass, params, unit_id)
                )
            except HomeAssistantError as err:
                raise _settings_conflict(endpoint, err) from err

        return unit


@callback
def async_connection_info(
    hass: HomeAssistant, entry: ConfigEntry[Any]
) -> ModbusConnectionInfo | None:
    """Return the shared connection an entry's units are on, if it has one."""
    return next(
        (
            info
            for info in async_get_connection_info(hass)
            if entry.entry_id in info.units
        ),
        None,
    )


def unique_id_for(data: Mapping[str, Any], identity: Identity) -> str:
    """Return the unique id of the entry for a device.

    The serial number, where the family's devices report their own; for one
    that reports none (a Daly BMS says only its cell count), the identity it
    does report plus where it is reached, so two alike boards on two ports
    are two entries.
    """
    if FAMILIES[data[CONF_FAMILY]].unique_serial:
        return identity.serial_number
    return f"{identity.serial_number}@{endpoint_from_data(data)}#{data[CONF_UNIT_ID]}"


def endpoint_from_data(data: Mapping[str, Any]) -> Endpoint:
    """Return the endpoint config entry data describes.

    Raises ValueError for data no link can be built from.
    """
    if data[CONF_CONNECTION] == CONNECTION_CAN:
        return can_channel_from_data(data).endpoint
    if data[CONF_CONNECTION] == CONNECTION_SERIAL:
        return parse_endpoint(data[CONF_DEVICE], baudrate=data[CONF_BAUDRATE])
    framing = data.get(CONF_FRAMING, FRAMING_TCP)
    host = data[CONF_HOST]
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return parse_endpoint(f"{framing}://{host}:{data[CONF_PORT]}")


def can_channel_from_data(data: Mapping[str, Any]) -> CanChannel:
    """Return the CAN bus config entry data describes."""
    return CanChannel(data[CONF_INTERFACE], data[CONF_CHANNEL], data[CONF_BITRATE])


def link_settings_clash(
    current_data: Mapping[str, Any], new_data: Mapping[str, Any]
) -> bool:
    """Return whether the new settings reach the same bus at other line settings.

    One connection serves a bus at one set of line settings, so a device on
    it cannot be probed at others while its own entry holds it.
    """
    try:
        current = endpoint_from_data(current_data)
        new = endpoint_from_data(new_data)
    except ValueError:
        return False
    protocol = FAMILIES[new_data[CONF_FAMILY]].protocol
    if protocol is Protocol.CAN:
        # An slcan adapter (or ser2net in front of one) takes one host.
        return current.bus_key == new.bus_key
    if protocol is Protocol.MODBUS:
        current_params, new_params = modbus_params(current), modbus_params(new)
        return (
            current_params.endpoint == new_params.endpoint
            and current_params != new_params
        )
    return current.bus_key == new.bus_key and current.serial != new.serial
