"""What can go wrong talking to a device, as exceptions the layers above map.

The config flow and the entities turn each into a precise, translated message,
so the classes follow what a user can do about them, not where they arose.
"""


class DeviceError(Exception):
    """Base class of every driver error."""


class LinkError(DeviceError):
    """The bus or gateway cannot be reached (host down, port refused, no tty)."""


class DeviceSilentError(DeviceError):
    """The link works, but the unit addressed did not answer in time."""


class DeviceRejectedError(DeviceError):
    """The device answered a request with a Modbus exception.

    ``code`` is the Modbus exception code (2 is "illegal data address").
    """

    def __init__(self, code: int, message: str) -> None:
        """Keep the exception code beside the message."""
        super().__init__(message)
        self.code = code


class IllegalAddressError(DeviceRejectedError):
    """The device has no register at an address that was asked for."""


class BadResponseError(DeviceError):
    """The device answered with something that cannot be right."""


class WrongDeviceError(DeviceError):
    """A device answered, but it is not of the family that was asked for."""


class IdentityMismatchError(DeviceError):
    """The device at the configured address is another one than configured."""


class LinkSettingsConflictError(LinkError):
    """A bus is already open at other line settings than the ones asked for."""
