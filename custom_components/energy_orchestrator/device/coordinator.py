"""The coordinator that polls one device over its shared link."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, override

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from ..const import (
    DOMAIN,
    IDENTITY_CHECK_INTERVAL,
    LOGGER,
    SCAN_INTERVAL,
    SLOW_INTERVAL,
)
from ..lib.control.battery_energy import DeviceBatteryEnergy, counted_keys
from ..lib.control.energy_total import EnergyTotal
from ..lib.drivers.base import Driver, Poll
from ..lib.drivers.cadence import Cadence
from ..lib.drivers.commands import Command, CommandKind
from ..lib.drivers.errors import (
    DeviceError,
    DeviceSilentError,
    LinkError,
    WrongDeviceError,
)
from ..lib.drivers.values import Identity, Readings
from .links import unique_id_for

type DeviceConfigEntry = ConfigEntry[DeviceRuntimeData]

# The code of the repair issue of a meter whose count stays far lower.
METER_REPLACED = "meter_replaced"


async def async_verify_identity(driver: Driver, entry: ConfigEntry[Any]) -> Identity:
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
    if (found := unique_id_for(entry.data, identity)) != entry.unique_id:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="identity_mismatch",
            translation_placeholders={
                "expected": str(entry.unique_id),
                "found": found,
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

    config_entry: ConfigEntry[Any]
    # Whether every setting is read from the device at set-up; where not
    # (a remote component), a setting is unknown until written.
    reads_settings = True

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        driver: Driver,
        *,
        name: str | None = None,
        update_interval: timedelta = SCAN_INTERVAL,
    ) -> None:
        """Initialize the coordinator."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            # The title, not the serial number, goes into log lines.
            name=name or entry.title,
            update_interval=update_interval,
        )
        self.driver = driver
        self._identity_checked_at = dt_util.utcnow()
        self._connects_seen = driver.connects
        # Set by anything that makes who answers uncertain: a failed poll, an
        # implausible count. The next poll checks the identity first.
        self._identity_in_doubt = False
        # The serial number checked at setup; what a cheap check compares to.
        self._serial_number: str | None = None
        self._failed_last_poll = False
        self._slow_read_at: datetime | None = None
        self._silent_parts: set[str] = set()
        # The device's settings as read back, by command; what command
        # entities show.
        self.settings: dict[CommandKind, float | str] = {}
        # Battery energy counted from power where the device keeps no count.
        self.battery_energy = DeviceBatteryEnergy()
        # What each lifetime energy sensor shows, by key: judged poll by poll,
        # and kept here so a repair flow can take a replaced meter's count.
        self.energy_totals: dict[str, EnergyTotal] = {}

    def available_keys(self) -> set[str]:
        """Return the keys the device has, and the battery energy counted for it."""
        keys = self.driver.available_keys()
        return keys | counted_keys(keys)

    async def async_read_settings(self) -> None:
        """Read back every setting the device can be commanded to.

        A setting that cannot be read stays unknown, and its entity
        unavailable, rather than showing a guess.
        """
        for kind in self.driver.commands:
            try:
                self.settings[kind] = await self.driver.async_read_back(
                    Command(kind, 0)
                )
            except DeviceError as err:
                LOGGER.debug("%s: cannot read %s back: %s", self.name, kind, err)

    @override
    async def _async_refresh(
        self,
        log_failures: bool = True,
        raise_on_auth_failed: bool = False,
        scheduled: bool = False,
        raise_on_entry_error: bool = False,
    ) -> None:
        """Refresh, logging a device that falls silent once, as a warning.

        Home Assistant logs a failed poll as an ERROR; a device that does
        not answer is a fault of the device or the network, not of Home
        Assistant, so it is one warning here, and Home Assistant's info
        line says when it is back. Errors that are not the device's still
        get Home Assistant's own log line, traceback included.
        """
        was_answering = self.last_update_success
        try:
            await super()._async_refresh(
                log_failures=False,
                raise_on_auth_failed=raise_on_auth_failed,
                scheduled=scheduled,
                raise_on_entry_error=raise_on_entry_error,
            )
        finally:
            if log_failures and was_answering and not self.last_update_success:
                self._log_failure(self.last_exception)

    def _log_failure(self, err: BaseException | None) -> None:
        """Log the first failed poll of an outage: a warning for a device fault.

        An unexpected exception is not here: Home Assistant logs it with its
        traceback whatever ``log_failures`` says.
        """
        if isinstance(err, UpdateFailed):
            LOGGER.warning("%s is unavailable: %s", self.name, err)
        elif isinstance(err, ConfigEntryError):
            # Another device answers at this address: the user must act.
            LOGGER.error("%s: %s", self.name, err)

    @override
    async def _async_update_data(self) -> Readings:
        """Read what is due, with one retry for a device that just fell silent.

        Values whose cadence is not due keep the value of the poll that last
        read them; values a poll asked for and did not get are gone.
        """
        now = dt_util.utcnow()
        due = {Cadence.FAST}
        if self._slow_read_at is None or now - self._slow_read_at >= SLOW_INTERVAL:
            due.add(Cadence.SLOW)
        try:
            poll = await self._async_poll(due)
        except (DeviceSilentError, LinkError) as err:
            if self._failed_last_poll:
                raise self._update_failed(err) from err
            self._failed_last_poll = True
            try:
                poll = await self._async_poll(due)
            except DeviceError as retry_err:
                raise self._update_failed(retry_err) from retry_err
        except DeviceError as err:
            raise self._update_failed(err) from err
        self._failed_last_poll = False
        self._identity_in_doubt = False
        if Cadence.SLOW in due:
            self._slow_read_at = now
        self._log_silent_parts(poll.failed)
        self.settings.update(poll.settings)
        kept = {k: v for k, v in (self.data or {}).items() if k not in poll.attempted}
        counted = self.battery_energy.count(
            poll.readings,
            poll.attempted,
            keys=self.driver.available_keys(),
            now=dt_util.utcnow().timestamp(),
        )
        return kept | poll.readings | counted

    def doubt_identity(self) -> None:
        """Check who answers before the next poll's values are shown."""
        self._identity_in_doubt = True

    async def _async_poll(self, due: set[Cadence]) -> Poll:
        """Poll once; raise the device's error when no part of it answered.

        A poll that came over a new connection is kept only once the device
        behind it proved to be this one; where the device offers its serial
        number in one request, every poll checks it.
        """
        await self._async_check_identity()
        try:
            poll = await self.driver.async_poll(due)
        except DeviceError:
            self._identity_in_doubt = True
            raise
        await self._async_check_identity()
        await self._async_check_serial_number()
        if not poll.answered:
            self._identity_in_doubt = True
            raise next(iter(poll.failed.values()))
        return poll

    async def _async_check_serial_number(self) -> None:
        """Compare the serial number read along with the values to the device's."""
        if self._serial_number is None:
            return
        serial = await self.driver.async_read_serial_number()
        if serial is not None and serial != self._serial_number:
            # Whatever answers is not this device: a full check says who.
            self._identity_in_doubt = True
            await self._async_check_identity()

    def _log_silent_parts(self, failed: Mapping[str, DeviceError]) -> None:
        """Log a sub-device falling silent once, and log its return once."""
        for part, error in failed.items():
            if part not in self._silent_parts:
                self._silent_parts.add(part)
                LOGGER.warning(
                    "%s: %s did not answer; its values are unavailable: %s",
                    self.name,
                    self._part_name(part),
                    error,
                )
        for part in self._silent_parts - failed.keys():
            self._silent_parts.discard(part)
            LOGGER.info("%s: %s is answering again", self.name, self._part_name(part))

    def _part_name(self, part: str) -> str:
        """Return a part of the device as its device page names it."""
        names = {sub.key: sub.name for sub in self.driver.sub_devices}
        return names.get(part) or part or "the device"

    async def _async_check_identity(self) -> None:
        """Check the serial number after a reconnect and now and then.

        Raises ConfigEntryError, which stops the entry with a clear message,
        when another device answers at this address.
        """
        now = dt_util.utcnow()
        if (
            not self._identity_in_doubt
            and self.driver.connects == self._connects_seen
            and now - self._identity_checked_at < IDENTITY_CHECK_INTERVAL
        ):
            return
        identity = await async_verify_identity(self.driver, self.config_entry)
        self._serial_number = identity.serial_number
        self._identity_in_doubt = False
        self._identity_checked_at = now
        self._connects_seen = self.driver.connects

    def expect_serial_number(self, serial_number: str) -> None:
        """Set the serial number found at setup, for the cheap check of every poll."""
        self._serial_number = serial_number

    def _update_failed(self, err: DeviceError) -> UpdateFailed:
        """Return the translated failure for a poll that got nothing."""
        self._failed_last_poll = True
        self._identity_in_doubt = True
        # What flowed while the device was silent is unknown: not counted.
        self.battery_energy.interrupt()
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key="communication_error",
            translation_placeholders={"error": str(err)},
        )


@dataclass(kw_only=True)
class DeviceRuntimeData:
    """One device and its entities' coordinator: a device entry's runtime data.

    A remote node's entry holds one of these per component. ``unique_id``
    prefixes its entities' unique ids.
    """

    coordinator: DeviceCoordinator
    unique_id: str
    identity: Identity
    device_info: DeviceInfo
    # Sub-devices (MPPTs, packs, meters behind an inverter) by their key.
    sub_device_info: dict[str, DeviceInfo]
