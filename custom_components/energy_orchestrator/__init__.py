"""Energy Orchestrator: a site's inverters, batteries, meters and wallboxes.

Each device is a config entry. Devices on one bus or gateway share a single
connection from the link pool, so a gateway that takes one client at a time
serves them all. Controllers (battery manager, peak shaving, wallbox manager) are entries too;
their entry type says which, and their set-up lives in ``controllers/``.
"""

from collections.abc import Iterable
from functools import partial
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_TYPE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.storage import Store
from homeassistant.helpers.typing import ConfigType

from .const import (
    CONF_FAMILY,
    CONF_REGISTER_MAP,
    CONF_UNIT_ID,
    CONTROLLER_TYPES,
    DOMAIN,
    TYPE_BATTERY_MANAGER,
    TYPE_PEAK_SHAVING,
    TYPE_WALLBOX_MANAGER,
)
from .controllers.base import STORAGE_VERSION, storage_key
from .controllers.battery import (
    async_setup_battery_manager,
    async_unload_battery_manager,
)
from .controllers.peak import async_setup_peak_shaving, async_unload_peak_shaving
from .controllers.wallbox import (
    async_setup_wallbox_manager,
    async_unload_wallbox_manager,
)
from .coordinator import (
    DeviceCoordinator,
    EnergyOrchestratorConfigEntry,
    EnergyOrchestratorRuntimeData,
    async_verify_identity,
)
from .drivers.base import Driver
from .drivers.errors import DeviceError, LinkError
from .drivers.families import FAMILIES, build_driver
from .drivers.values import Identity
from .helpers import async_get_link_pool, endpoint_from_data
from .services import async_setup_services

PLATFORMS = [Platform.NUMBER, Platform.SELECT, Platform.SENSOR, Platform.SWITCH]

# Entries are made in the UI only.
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions, once for all entries."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
    """Set up a device or a controller from its config entry."""
    kind = entry.data.get(CONF_TYPE)
    if kind == TYPE_BATTERY_MANAGER:
        await async_setup_battery_manager(hass, entry)
    elif kind == TYPE_PEAK_SHAVING:
        await async_setup_peak_shaving(hass, entry)
    elif kind == TYPE_WALLBOX_MANAGER:
        await async_setup_wallbox_manager(hass, entry)
    else:
        await _async_setup_device(hass, entry)
    # Home Assistant 2026.10 still checks for a boolean here.
    return True


async def _async_setup_device(
    hass: HomeAssistant, entry: EnergyOrchestratorConfigEntry
) -> None:
    """Set up a device from a config entry."""
    pool = async_get_link_pool(hass)
    try:
        driver = build_driver(
            pool,
            FAMILIES[entry.data[CONF_FAMILY]],
            endpoint_from_data(entry.data),
            entry.data[CONF_UNIT_ID],
            entry.data.get(CONF_REGISTER_MAP),
        )
    except (LinkError, ValueError) as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="link_unusable",
            translation_placeholders={"error": str(err)},
        ) from err

    try:
        identity = await _async_identify(entry, driver)
        coordinator = DeviceCoordinator(hass, entry, driver)
        await coordinator.async_config_entry_first_refresh()
        await coordinator.async_read_settings()
    except BaseException:
        await pool.release(driver.link)
        raise

    entry.async_on_unload(partial(pool.release, driver.link))
    # The entry's unique id: the serial number, or for a family whose devices
    # report none, that and where the device is reached.
    unique_id = str(entry.unique_id)
    device_info = DeviceInfo(
        identifiers={(DOMAIN, unique_id)},
        manufacturer=identity.manufacturer,
        model=identity.model,
        serial_number=identity.serial_number,
        sw_version=identity.firmware,
        name=f"{identity.manufacturer} {identity.model}",
    )
    # Registered up front: a sub-device can only name the device it hangs off
    # once that device has an id.
    device_registry = dr.async_get(hass)
    main_device = device_registry.async_get_or_create(
        config_entry_id=entry.entry_id, **device_info
    )
    sub_device_info = {
        sub.key: DeviceInfo(
            identifiers={(DOMAIN, f"{unique_id}_{sub.key}")},
            name=sub.name,
            manufacturer=sub.manufacturer or identity.manufacturer,
            model=sub.model,
            serial_number=sub.serial_number,
            sw_version=sub.firmware,
            via_device_id=main_device.id,
        )
        for sub in driver.sub_devices
    }
    _async_remove_stale_devices(hass, entry, device_info, sub_device_info.values())
    entry.runtime_data = EnergyOrchestratorRuntimeData(
        coordinator=coordinator,
        identity=identity,
        device_info=device_info,
        sub_device_info=sub_device_info,
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)


def _async_remove_stale_devices(
    hass: HomeAssistant,
    entry: EnergyOrchestratorConfigEntry,
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


async def _async_identify(
    entry: EnergyOrchestratorConfigEntry, driver: Driver
) -> Identity:
    """Check that the device at the entry's address is the entry's device."""
    try:
        return await async_verify_identity(driver, entry)
    except DeviceError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="communication_error",
            translation_placeholders={"error": str(err)},
        ) from err


async def async_unload_entry(hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
    """Unload an entry; a device's link closes when no device uses it."""
    kind = entry.data.get(CONF_TYPE)
    if kind == TYPE_BATTERY_MANAGER:
        return await async_unload_battery_manager(hass, entry)
    if kind == TYPE_PEAK_SHAVING:
        return await async_unload_peak_shaving(hass, entry)
    if kind == TYPE_WALLBOX_MANAGER:
        return await async_unload_wallbox_manager(hass, entry)
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """Delete a removed controller's saved state with it."""
    if (kind := entry.data.get(CONF_TYPE)) in CONTROLLER_TYPES:
        store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, storage_key(kind, entry.entry_id)
        )
        await store.async_remove()
