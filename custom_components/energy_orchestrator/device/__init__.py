"""Device entries: one device, read through a link shared per bus or gateway.

A device entry reads one inverter, battery, meter or wallbox with a driver
from ``lib/drivers``; its values and settings become entities on the
platforms in ``PLATFORMS``. A Modbus device takes its units from Home
Assistant's shared connection to its gateway or bus, which every
integration talking to that gateway shares, so one that takes one client at
a time serves them all (``links.py``).
"""

from collections.abc import Iterable

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo

from ..const import (
    CONF_FAMILY,
    CONF_KEEPALIVE,
    CONF_REGISTER_MAP,
    CONF_UNIT_ID,
    DOMAIN,
)
from ..lib.drivers.base import Driver
from ..lib.drivers.errors import DeviceError, LinkError, LinkSettingsConflictError
from ..lib.drivers.families import FAMILIES, Protocol, build_can_driver, build_driver
from ..lib.drivers.transport.modbus import ModbusLink
from ..lib.drivers.values import Identity
from . import number, select, sensor, switch
from .coordinator import (
    DeviceConfigEntry,
    DeviceCoordinator,
    DeviceRuntimeData,
    async_verify_identity,
)
from .links import EntryLinks, can_channel_from_data, endpoint_from_data
from .quiet_transport import quiet_known_transport_errors

# Each platform's set-up for device entries.
PLATFORMS = {
    Platform.NUMBER: number.async_setup_entry,
    Platform.SELECT: select.async_setup_entry,
    Platform.SENSOR: sensor.async_setup_entry,
    Platform.SWITCH: switch.async_setup_entry,
}


async def async_setup_device(hass: HomeAssistant, entry: DeviceConfigEntry) -> None:
    """Set up a device from a config entry.

    Its links are held until the entry unloads, a failed setup included.
    """
    try:
        driver = _build_driver(hass, entry)
        if isinstance(driver.link, ModbusLink):
            quiet_known_transport_errors()
            # Taken now, so a bus held at other settings fails the setup
            # rather than every poll.
            await driver.link.unit(entry.data[CONF_UNIT_ID])
    except LinkSettingsConflictError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="bus_settings_conflict",
            translation_placeholders={"error": str(err)},
        ) from err
    except (LinkError, ValueError) as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="link_unusable",
            translation_placeholders={"error": str(err)},
        ) from err

    identity = await _async_identify(entry, driver)
    coordinator = DeviceCoordinator(hass, entry, driver)
    coordinator.expect_serial_number(identity.serial_number)
    await coordinator.async_config_entry_first_refresh()
    await coordinator.async_read_settings()

    # The entry's unique id: the serial number, or for a family whose devices
    # report none, that and where the device is reached.
    unique_id = str(entry.unique_id)
    name = f"{identity.manufacturer} {identity.model}"
    device_info = DeviceInfo(
        identifiers={(DOMAIN, unique_id)},
        manufacturer=identity.manufacturer,
        model=identity.model,
        serial_number=identity.serial_number,
        sw_version=identity.firmware,
        name=name,
    )
    # Registered up front: a sub-device can only name the device it hangs off
    # once that device has an id.
    device_registry = dr.async_get(hass)
    main_device = device_registry.async_get_or_create(
        config_entry_id=entry.entry_id, **device_info
    )
    # A part is named within its device ("Fronius Symo PV1"), so a second
    # inverter's PV1 is not taken for the first one's.
    sub_device_info = {
        sub.key: DeviceInfo(
            identifiers={(DOMAIN, f"{unique_id}_{sub.key}")},
            name=f"{name} {sub.name}",
            manufacturer=sub.manufacturer or identity.manufacturer,
            model=sub.model,
            serial_number=sub.serial_number,
            sw_version=sub.firmware,
            via_device_id=main_device.id,
        )
        for sub in driver.sub_devices
    }
    _async_remove_stale_devices(hass, entry, device_info, sub_device_info.values())
    entry.runtime_data = DeviceRuntimeData(
        coordinator=coordinator,
        unique_id=unique_id,
        identity=identity,
        device_info=device_info,
        sub_device_info=sub_device_info,
    )


def _build_driver(hass: HomeAssistant, entry: DeviceConfigEntry) -> Driver:
    """Return the entry's driver on its link, given back when the entry unloads."""
    family = FAMILIES[entry.data[CONF_FAMILY]]
    if family.protocol is Protocol.CAN:
        # A CAN bus is the battery's own: it opens with the entry.
        bus = can_channel_from_data(entry.data)
        driver = build_can_driver(
            family,
            bus.interface,
            bus.channel,
            bus.bitrate,
            keepalive=entry.data.get(CONF_KEEPALIVE, False),
        )
        entry.async_on_unload(driver.link.close)
        return driver
    return build_driver(
        EntryLinks(hass, entry),
        family,
        endpoint_from_data(entry.data),
        entry.data[CONF_UNIT_ID],
        entry.data.get(CONF_REGISTER_MAP),
    )


def _async_remove_stale_devices(
    hass: HomeAssistant,
    entry: DeviceConfigEntry,
    device_info: DeviceInfo,
    sub_device_info: Iterable[DeviceInfo],
) -> None:
    """Remove sub-devices the device no longer has (a pack taken out)."""
    current = set(device_info["identifiers"])
    for info in sub_device_info:
        current |= info["identifiers"]
    device_registry = dr.async_get(hass)
    for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id):
        if not current & device.identifiers:
            device_registry.async_remove_device(device.id)


async def _async_identify(entry: DeviceConfigEntry, driver: Driver) -> Identity:
    """Check that the device at the entry's address is the entry's device."""
    try:
        return await async_verify_identity(driver, entry)
    except DeviceError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="communication_error",
            translation_placeholders={"error": str(err)},
        ) from err


async def async_unload_device(hass: HomeAssistant, entry: DeviceConfigEntry) -> bool:
    """Nothing left to stop once the entities are gone: the links go on unload."""
    return True
