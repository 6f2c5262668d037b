"""The coordinator that polls one device over its shared link."""

from dataclasses import dataclass
from typing import override

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import DOMAIN, IDENTITY_CHECK_INTERVAL, LOGGER, SCAN_INTERVAL
from .drivers.base import ModbusDriver
from .drivers.errors import (
    DeviceError,
    DeviceSilentError,
    LinkError,
    WrongDeviceError,
)
from .drivers.transport.modbus import ModbusLink
from .drivers.values import Identity, Readings

type EnergyOrchestratorConfigEntry = ConfigEntry[EnergyOrchestratorRuntimeData]


async def async_verify_identity(
    driver: ModbusDriver, entry: EnergyOrchestratorConfigEntry
) -> Identity:
    """Read who answers at the entry's address; stop the entry if not its device.

    Raises ConfigEntryError when the device is of another family or another
    device of the family (another serial number): showing its values as this
    one's would be showing wrong numbers. Link errors pass through.
    """
    try:
        identity = await driver.async_identify()
    except WrongDeviceError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="wrong_device",
            translation_placeholders={"error": str(err)},
        ) from err
    if identity.serial_number != entry.unique_id:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="identity_mismatch",
            translation_placeholders={
                "expected": str(entry.unique_id),
                "found": identity.serial_number,
            },
        )
    return identity


class DeviceCoordinator(DataUpdateCoordinator[Readings]):
    """Polls one device and hands its readings to the entities.

    A device that misses one poll gets one immediate retry: a single lost
    frame on RS485 is common and should not blank the dashboard. One that
    stays silent makes the entities unavailable; the coordinator logs that
    once and logs once more when the device is back.
    """

    config_entry: EnergyOrchestratorConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: EnergyOrchestratorConfigEntry,
        driver: ModbusDriver,
    ) -> None:
        """Initialize the coordinator."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            # The title, not the serial number, goes into log lines.
            name=entry.title,
            update_interval=SCAN_INTERVAL,
        )
        self.driver = driver
        self._identity_checked_at = dt_util.utcnow()
        self._connects_seen = driver.link.stats.connects
        self._failed_last_poll = False

    @override
    async def _async_update_data(self) -> Readings:
        """Read the device, with one retry for a device that just fell silent."""
        try:
            await self._async_check_identity()
            readings = await self.driver.async_read()
        except (DeviceSilentError, LinkError) as err:
            if self._failed_last_poll:
                raise self._update_failed(err) from err
            self._failed_last_poll = True
            try:
                await self._async_check_identity()
                readings = await self.driver.async_read()
            except DeviceError as retry_err:
                raise self._update_failed(retry_err) from retry_err
        except DeviceError as err:
            raise self._update_failed(err) from err
        self._failed_last_poll = False
        return readings

    async def _async_check_identity(self) -> None:
        """Check the serial number after a reconnect and now and then.

        Raises ConfigEntryError, which stops the entry with a clear message,
        when another device answers at this address.
        """
        link: ModbusLink = self.driver.link
        now = dt_util.utcnow()
        if (
            link.stats.connects == self._connects_seen
            and now - self._identity_checked_at < IDENTITY_CHECK_INTERVAL
        ):
            return
        await async_verify_identity(self.driver, self.config_entry)
        self._identity_checked_at = now
        self._connects_seen = link.stats.connects

    def _update_failed(self, err: DeviceError) -> UpdateFailed:
        """Return the translated failure for a poll that got nothing."""
        self._failed_last_poll = True
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key="communication_error",
            translation_placeholders={"error": str(err)},
        )


@dataclass(kw_only=True)
class EnergyOrchestratorRuntimeData:
    """Runtime data of a device entry."""

    coordinator: DeviceCoordinator
    identity: Identity
    device_info: DeviceInfo
