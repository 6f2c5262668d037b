"""Commands a SunSpec device takes, and how they are written and read back.

- Active power limit, through DER AC controls 704 (``WMaxLimPctEna``,
  ``WMaxLimPct``, ``WMaxLimPctRvrtTms``) when the device has it, else
  through the immediate controls 123 (``WMaxLim_Ena``, ``WMaxLimPct``,
  ``WMaxLimPct_RvrtTms``). Where the device has a revert timer it is set, so
  an inverter whose controller died goes back to its own settings instead
  of staying limited for ever.
- Battery charge and discharge power, through the storage model 124:
  ``InWRte`` and ``OutWRte`` are percentages of ``WChaMax`` (the model's
  text says "% WDisChaMax" for discharge, a point no model defines; Fronius
  and SolarEdge scale both by ``WChaMax``), enabled by the CHARGE and
  DISCHARGE bits of ``StorCtl_Mod``, with the ``InOutWRte_RvrtTms`` timer.

Every write goes to points found by name in the model definition, at the
offsets of this device's model; values are checked by ``base.execute``
against the limits declared here before anything is sent.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..commands import CommandKind, CommandSpec
from ..errors import BadResponseError
from .chain import ModelBlock
from .codec import GroupValues, encode_point, unscale

_ENABLED = 1
_DISABLED = 0
_CHARGE_BIT = 0
_DISCHARGE_BIT = 1


class ModelIO(Protocol):
    """What a control needs from the driver: read a model, write registers."""

    async def read_model(self, block: ModelBlock) -> GroupValues:
        """Read and decode a model."""
        ...

    async def write_registers(self, address: int, words: Sequence[int]) -> None:
        """Write holding registers."""
        ...


async def _write_point(
    io: ModelIO, block: ModelBlock, values: GroupValues, name: str, raw: int
) -> None:
    """Write one point of a model, raw (already unscaled).

    A value past what the point holds saturates (a revert time of a day in a
    16-bit point of seconds becomes 65534 s).
    """
    point = values.definition.point(name)
    offset = values.offset_of(name)
    if point is None or offset is None:
        raise BadResponseError(f"model {block.model_id} has no point {name}")
    await io.write_registers(block.address + offset, encode_point(point, raw))


def _step(exponent: int) -> float:
    """Return the smallest change a point with this scale factor can make."""
    return 10.0**exponent


@dataclass(frozen=True, slots=True)
class PowerLimitControl:
    """The active power limit, in % of the inverter's maximum power."""

    block: ModelBlock
    percent: str
    enabled: str
    exponent: int
    revert_time: str | None
    # 704 only: what the limit's enable becomes when the timer runs out.
    revert_enabled: str | None
    revert_timeout_s: int

    @classmethod
    def from_values(
        cls, block: ModelBlock, values: GroupValues, revert_timeout_s: int
    ) -> PowerLimitControl | None:
        """Return the control a 123 or 704 model offers, if it offers one."""
        if block.model_id == 704:
            percent, enabled, revert_time = (
                "WMaxLimPct",
                "WMaxLimPctEna",
                "WMaxLimPctRvrtTms",
            )
            revert_enabled: str | None = "WMaxLimPctEnaRvrt"
        else:
            percent, enabled, revert_time = (
                "WMaxLimPct",
                "WMaxLim_Ena",
                "WMaxLimPct_RvrtTms",
            )
            revert_enabled = None
        exponent = values.get("WMaxLimPct_SF")
        if not isinstance(exponent, int) or values.definition.point(enabled) is None:
            return None
        if values.get(enabled) is None and values.get(percent) is None:
            return None
        return cls(
            block,
            percent,
            enabled,
            exponent,
            revert_time if values.get(revert_time) is not None else None,
            revert_enabled
            if revert_enabled and values.get(revert_enabled) is not None
            else None,
            revert_timeout_s,
        )

    @property
    def spec(self) -> CommandSpec:
        """Return the command's limits: 0-100 % in the point's resolution."""
        step = _step(self.exponent)
        return CommandSpec(
            CommandKind.ACTIVE_POWER_LIMIT,
            unit="%",
            minimum=0.0,
            maximum=100.0,
            step=step,
            tolerance=step / 2,
        )

    async def apply(self, io: ModelIO, percent: float) -> None:
        """Write the limit, its revert timer, then enable it."""
        values = await io.read_model(self.block)
        raw = unscale(percent, self.exponent)
        assert isinstance(raw, int)
        if self.revert_enabled is not None:
            await _write_point(io, self.block, values, self.revert_enabled, _DISABLED)
        if self.revert_time is not None:
            await _write_point(
                io, self.block, values, self.revert_time, self.revert_timeout_s
            )
        await _write_point(io, self.block, values, self.percent, raw)
        await _write_point(io, self.block, values, self.enabled, _ENABLED)

    async def release(self, io: ModelIO) -> None:
        """Disable the limit: the inverter runs to its own maximum again."""
        values = await io.read_model(self.block)
        await _write_point(io, self.block, values, self.enabled, _DISABLED)

    async def read_back(self, io: ModelIO) -> float:
        """Return the limit in effect: 100 % when none is enabled."""
        values = await io.read_model(self.block)
        if values.get(self.enabled) == _DISABLED:
            return 100.0
        percent = values.number(self.percent)
        if percent is None:
            raise BadResponseError("the inverter reports no active power limit")
        return percent


@dataclass(frozen=True, slots=True)
class StoragePowerControl:
    """The largest battery charge or discharge power, through model 124."""

    block: ModelBlock
    kind: CommandKind
    rate: str
    mode_bit: int
    reference_w: float
    exponent: int
    revert: bool
    revert_timeout_s: int

    @classmethod
    def from_values(
        cls, block: ModelBlock, values: GroupValues, revert_timeout_s: int
    ) -> list[StoragePowerControl]:
        """Return the charge and discharge controls a 124 model offers."""
        reference = values.number("WChaMax")
        exponent = values.get("InOutWRte_SF")
        if (
            reference is None
            or reference <= 0
            or not isinstance(exponent, int)
            or values.get("StorCtl_Mod") is None
        ):
            return []
        revert = values.get("InOutWRte_RvrtTms") is not None
        return [
            cls(
                block,
                kind,
                rate,
                bit,
                reference,
                exponent,
                revert,
                revert_timeout_s,
            )
            for kind, rate, bit in (
                (CommandKind.BATTERY_CHARGE_POWER, "InWRte", _CHARGE_BIT),
                (CommandKind.BATTERY_DISCHARGE_POWER, "OutWRte", _DISCHARGE_BIT),
            )
            if values.get(rate) is not None
        ]

    @property
    def spec(self) -> CommandSpec:
        """Return the command's limits: 0 W up to ``WChaMax``."""
        return CommandSpec(
            self.kind,
            unit="W",
            minimum=0.0,
            maximum=self.reference_w,
            tolerance=self.reference_w * _step(self.exponent) / 100,
        )

    async def apply(self, io: ModelIO, watts: float) -> None:
        """Write the rate in % of ``WChaMax``, its revert timer, then the mode."""
        values = await io.read_model(self.block)
        reference = values.number("WChaMax") or self.reference_w
        raw = unscale(100.0 * watts / reference, self.exponent)
        assert isinstance(raw, int)
        await _write_point(io, self.block, values, self.rate, raw)
        if self.revert:
            await _write_point(
                io, self.block, values, "InOutWRte_RvrtTms", self.revert_timeout_s
            )
        mode = values.get("StorCtl_Mod")
        bits = mode if isinstance(mode, int) else 0
        await _write_point(
            io, self.block, values, "StorCtl_Mod", bits | (1 << self.mode_bit)
        )

    async def release(self, io: ModelIO) -> None:
        """Clear the rate's bit of ``StorCtl_Mod``: the battery's own limits rule."""
        values = await io.read_model(self.block)
        mode = values.get("StorCtl_Mod")
        bits = mode if isinstance(mode, int) else 0
        await _write_point(
            io, self.block, values, "StorCtl_Mod", bits & ~(1 << self.mode_bit)
        )

    async def read_back(self, io: ModelIO) -> float:
        """Return the power allowed now: ``WChaMax`` when no rate is enabled."""
        values = await io.read_model(self.block)
        reference = values.number("WChaMax") or self.reference_w
        mode = values.get("StorCtl_Mod")
        if not isinstance(mode, int) or not mode & (1 << self.mode_bit):
            return reference
        percent = values.number(self.rate)
        if percent is None:
            raise BadResponseError(f"the device reports no {self.rate}")
        return reference * percent / 100
