"""Finding a SunSpec device's models: the ``SunS`` marker and the model chain.

A SunSpec device starts its map with the two registers "SunS" (0x5375,
0x6E53) at 40000, or at 0 or 50000. Each model follows as its id, its length
L and L registers of points; the id 0xFFFF ends the chain.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ..errors import (
    BadResponseError,
    DeviceRejectedError,
    DeviceSilentError,
    IllegalAddressError,
    WrongDeviceError,
)
from .codec import END_MODEL_ID, HEADER_SIZE

SUNS_MARKER = (0x5375, 0x6E53)
# Where SunSpec maps start, most common first.
BASE_ADDRESSES = (40000, 0, 50000)
# A chain longer than this is a device answering garbage, not SunSpec.
MAX_MODELS = 200
_REGISTER_SPACE = 0x10000

type RegisterReader = Callable[[int, int], Awaitable[Sequence[int]]]


@dataclass(frozen=True, slots=True)
class ModelBlock:
    """Where one model of the chain sits.

    ``address`` is the register holding the model's id; ``length`` is its
    L, the registers after the two-register header.
    """

    model_id: int
    address: int
    length: int

    @property
    def count(self) -> int:
        """Return the registers the model takes, header included."""
        return self.length + HEADER_SIZE

    @property
    def end(self) -> int:
        """Return the address just past the model."""
        return self.address + self.count


async def find_base(read: RegisterReader) -> int:
    """Return the address of the ``SunS`` marker.

    Raises WrongDeviceError when no base address holds it, and
    DeviceSilentError when the device answered none of the requests.
    """
    silent: DeviceSilentError | None = None
    answered = False
    for base in BASE_ADDRESSES:
        try:
            words = await read(base, len(SUNS_MARKER))
        except DeviceSilentError as err:
            # Some devices let requests outside their map time out.
            silent = err
            continue
        except DeviceRejectedError, BadResponseError:
            answered = True
            continue
        answered = True
        if tuple(words) == SUNS_MARKER:
            return base
    if silent is not None and not answered:
        raise silent
    raise WrongDeviceError(
        "no SunSpec marker 'SunS' at "
        + ", ".join(str(base) for base in BASE_ADDRESSES)
        + "; not a SunSpec device, or SunSpec is not enabled on it"
    )


async def walk_chain(read: RegisterReader, base: int) -> list[ModelBlock]:
    """Return the models of the chain that starts after the marker at ``base``.

    The chain ends at the 0xFFFF id; a device that ends its map without one
    answers "illegal data address" for the next header, which ends it too.
    """
    blocks: list[ModelBlock] = []
    address = base + len(SUNS_MARKER)
    while len(blocks) < MAX_MODELS and address + HEADER_SIZE <= _REGISTER_SPACE:
        try:
            model_id, length = await read(address, HEADER_SIZE)
        except IllegalAddressError:
            break
        if model_id in {END_MODEL_ID, 0}:
            break
        block = ModelBlock(model_id, address, length)
        if block.end > _REGISTER_SPACE:
            raise BadResponseError(
                f"model {model_id} at {address} claims {length} registers,"
                " past the end of the register space"
            )
        blocks.append(block)
        address = block.end
    return blocks
