"""Frames of the Voltronic PI30 protocol: requests, answers and their CRC.

A request is the command in ASCII, its CRC (2 bytes, high byte first) and a
carriage return: ``QPIGS<CRC><cr>``. An answer is ``(``, the payload in
ASCII, the CRC and a carriage return; the CRC covers every byte before it,
``(`` included.

The CRC is CRC-16/XMODEM (polynomial 0x1021, initial value 0, no reflection,
no final XOR) with Voltronic's byte rule: a CRC byte that would read as
``(`` (0x28), CR (0x0D) or LF (0x0A) is sent one higher (0x29, 0x0E, 0x0B),
so that neither byte can be taken for the start or the end of a frame. The
vendor documents name the rule ("CRC calibration method") without printing
it in their text; it is the rule of mppsolar and the other PI30 clients, and
the captures prove it: every intact answer among mppsolar's PI30 and PI41
captures (73 and 97) checks under it, and the QSID answer of a PI41 device
carries a 0x0E that is a 0x0D moved up.

What is accepted:

- An answer must carry a valid CRC. Every PI30 answer captured does but
  one (``(Sd9``: a QMOD answer whose two CRC bytes were typed as text),
  which is rejected. A frame without a CRC cannot be told from a frame
  whose CRC is wrong, and taking either would show numbers nobody can
  vouch for.
- An answer starts with ``(`` and ends with a carriage return. Two captured
  QBMS answers end with a line feed instead, and one captured "answer" is
  the request echoed back: neither is an answer.
- A NAK without CRC, ``(NAK<cr>``, is taken as a NAK: the vendor documents
  print it for several commands (PE/PD, PGR, QBOOT), and it carries no value.
- ``(NAK`` with a valid CRC is the normal refusal: the device does not know
  the command or refuses the value (``NakError``).
"""

from ..errors import BadResponseError, DeviceRejectedError

START = b"("
END = b"\r"
NAK = "NAK"
ACK = "ACK"
# The NAK some firmware sends without a CRC, as the vendor documents print it.
BARE_NAK = b"(NAK\r"
CRC_LENGTH = 2
# "(", the CRC and the carriage return around an empty payload.
_MIN_FRAME = len(START) + CRC_LENGTH + len(END)
# CRC bytes that would read as "(", CR or LF are sent one higher.
_RESERVED_CRC_BYTES = frozenset((0x28, 0x0D, 0x0A))
_XMODEM_POLY = 0x1021


def _crc_table() -> tuple[int, ...]:
    """Return the CRC-16/XMODEM lookup table, one entry per byte value."""
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ _XMODEM_POLY) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16_xmodem(data: bytes) -> int:
    """Return the CRC-16/XMODEM of ``data`` (0x31C3 for ``b"123456789"``)."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[(crc >> 8) ^ byte]
    return crc


def pi_crc(data: bytes) -> bytes:
    """Return the two CRC bytes a PI30 frame carries after ``data``."""
    crc = crc16_xmodem(data)
    return bytes(
        byte + 1 if byte in _RESERVED_CRC_BYTES else byte
        for byte in (crc >> 8, crc & 0xFF)
    )


def encode_request(command: str) -> bytes:
    """Return the request frame of a command (``"QPIGS"``, ``"POP02"``).

    Raises ValueError for a command that cannot be sent: empty, not printable
    ASCII, or holding a carriage return.
    """
    if not command or not command.isascii() or not command.isprintable():
        raise ValueError(f"{command!r} is not a PI30 command")
    data = command.encode("ascii")
    return data + pi_crc(data) + END


def encode_response(payload: str) -> bytes:
    """Return the answer frame carrying ``payload`` (for emulators and tests)."""
    data = START + payload.encode("ascii")
    return data + pi_crc(data) + END


def frame_end(buffer: bytes) -> int | None:
    """Return the length of the first whole frame in ``buffer``, or None.

    A frame ends at the first carriage return: the CRC rule keeps CR out of
    the CRC bytes, and the payload is text.
    """
    end = buffer.find(END)
    return None if end < 0 else end + 1


class NakError(DeviceRejectedError):
    """The inverter answered NAK: it does not know the command or refuses it."""

    def __init__(self, command: str) -> None:
        """Name the refused command in the message."""
        super().__init__(
            0,
            f"the inverter refused {command or 'the request'} (NAK): it does not"
            " know the command or the value is outside what it accepts",
        )
        self.command = command


def decode_response(frame: bytes, command: str = "") -> str:
    """Return the payload of an answer frame, checked.

    ``command`` names the request in error messages. Raises NakError for a
    NAK and BadResponseError for anything that is not an intact answer:
    no ``(``, no carriage return at the end, too short, a wrong CRC or bytes
    that are not printable ASCII.
    """
    what = f"answer to {command}" if command else "answer"
    if not frame.endswith(END):
        raise BadResponseError(f"{what} does not end with a carriage return")
    if not frame.startswith(START):
        raise BadResponseError(f"{what} does not start with '(': {frame[:16]!r}")
    if frame == BARE_NAK:
        raise NakError(command)
    if len(frame) < _MIN_FRAME:
        raise BadResponseError(f"{what} is too short: {frame!r}")
    body, crc = frame[: -CRC_LENGTH - 1], frame[-CRC_LENGTH - 1 : -1]
    expected = pi_crc(body)
    if crc != expected:
        raise BadResponseError(
            f"{what} has CRC {crc.hex()}, its bytes give {expected.hex()}"
        )
    try:
        payload = body[len(START) :].decode("ascii")
    except UnicodeDecodeError as err:
        raise BadResponseError(f"{what} holds bytes that are not ASCII") from err
    if not payload.isprintable():
        raise BadResponseError(f"{what} holds control characters: {payload!r}")
    if payload == NAK:
        raise NakError(command)
    return payload
