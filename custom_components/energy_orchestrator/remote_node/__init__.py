"""Remote node entries: a node running ``eo node``, its components as devices.

The node is a device and each of its components a device under it, with the
entities a local connection gives (the device platforms' own), fed by the
node's MQTT messages through Home Assistant's MQTT integration
(``runtime.py``). The entry publishes the node's heartbeat until it
unloads; the node's fail-safe releases what was written when it stops.
"""

from asyncio import timeout as asyncio_timeout
from collections.abc import Callable
from typing import Any

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..const import CONF_NODE, CONF_PREFIX, DOMAIN
from ..device.coordinator import DeviceRuntimeData
from ..device.number import numbers_of
from ..device.select import selects_of
from ..device.sensor import sensors_of
from ..device.switch import switches_of
from .mqtt import async_mqtt_ready
from .runtime import RemoteNode, RemoteNodeConfigEntry

# How long set-up waits for the retained config of the node's components.
CONFIG_WAIT_S = 5.0


def _platform(
    platform: Platform, make: Callable[[DeviceRuntimeData], list[Any]]
) -> Callable[
    [HomeAssistant, RemoteNodeConfigEntry, AddConfigEntryEntitiesCallback],
    Any,
]:
    """Return a platform's set-up: the entities of each component, now and later."""

    async def async_setup_entry(
        hass: HomeAssistant,
        entry: RemoteNodeConfigEntry,
        async_add_entities: AddConfigEntryEntitiesCallback,
    ) -> None:
        """Add the platform's entities of every component of the node."""
        maker: Callable[[DeviceRuntimeData], list[Entity]] = make
        entry.runtime_data.add_platform(platform, async_add_entities, maker)

    return async_setup_entry


PLATFORMS = {
    Platform.NUMBER: _platform(Platform.NUMBER, numbers_of),
    Platform.SELECT: _platform(Platform.SELECT, selects_of),
    Platform.SENSOR: _platform(Platform.SENSOR, sensors_of),
    Platform.SWITCH: _platform(Platform.SWITCH, switches_of),
}


async def async_setup_remote_node(
    hass: HomeAssistant, entry: RemoteNodeConfigEntry
) -> None:
    """Subscribe to the node, wait for its components' config, start the heartbeat."""
    if not await async_mqtt_ready(hass):
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN, translation_key="mqtt_unavailable"
        )
    node = RemoteNode(hass, entry, entry.data[CONF_PREFIX], entry.data[CONF_NODE])
    entry.runtime_data = node
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **node.device_info
    )
    await node.async_start()
    try:
        async with asyncio_timeout(CONFIG_WAIT_S):
            await node.first_config.wait()
    except TimeoutError:
        # Components found later are added then; the node's device is there.
        pass


async def async_unload_remote_node(
    hass: HomeAssistant, entry: RemoteNodeConfigEntry
) -> bool:
    """Stop the heartbeat: the node's fail-safe releases after its timeout."""
    entry.runtime_data.stop_heartbeat()
    return True


def async_remove_remote_device(
    hass: HomeAssistant, entry: RemoteNodeConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let a user delete a component's device once the node no longer serves it.

    A component whose values still come would come back at once; the node's
    own device goes with the entry.
    """
    node = entry.runtime_data
    comp = node.component_of_device(device)
    if comp is None or node.drivers[comp].silent_reason() is None:
        return False
    node.forget(comp)
    return True


def remote_node_diagnostics(entry: RemoteNodeConfigEntry) -> dict[str, Any]:
    """Return the node, its components, their last states and pending requests."""
    return {"entry": dict(entry.data), **entry.runtime_data.diagnostics()}
