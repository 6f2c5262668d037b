"""Register decoding and read planning."""

import math
import struct

from hypothesis import given, strategies as st
import pytest

from custom_components.energy_orchestrator.lib.drivers.eastron import SDM630_POINTS
from custom_components.energy_orchestrator.lib.drivers.registers import (
    DataType,
    Point,
    ReadPlanner,
    RegisterTable,
    WordOrder,
    split_block,
)

INPUT = RegisterTable.INPUT


def test_float_decodes_big_endian_words_like_eastron() -> None:
    """230.2 V is 0x43663333 in IEEE 754, most significant register first."""
    point = Point("ac_voltage_l1", INPUT, 0, DataType.FLOAT32)
    assert point.decode([0x4366, 0x3333]) == pytest.approx(230.2, abs=1e-4)


def test_little_word_order_swaps_registers() -> None:
    point = Point("x", INPUT, 0, DataType.UINT32, word_order=WordOrder.LITTLE)
    assert point.decode([0x5678, 0x1234]) == 0x12345678


def test_nan_and_not_implemented_are_absent_not_zero() -> None:
    nan_words = list(struct.unpack(">HH", struct.pack(">f", math.nan)))
    assert Point("x", INPUT, 0, DataType.FLOAT32).decode(nan_words) is None
    sunspec = Point("x", INPUT, 0, DataType.INT16, not_implemented=0x8000)
    assert sunspec.decode([0x8000]) is None
    assert sunspec.decode([0xFFFF]) == -1


def test_scale_converts_kwh_to_wh() -> None:
    point = Point("grid_import_energy", INPUT, 0x48, DataType.FLOAT32, 1000.0)
    assert point.decode(point.encode(12_345.5)) == pytest.approx(12_345.5, rel=1e-6)


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_float32_round_trip(value: float) -> None:
    point = Point("x", INPUT, 0, DataType.FLOAT32)
    decoded = point.decode(point.encode(value))
    assert decoded == pytest.approx(value, rel=1e-6, abs=1e-30)


def test_sdm630_plan_respects_the_80_register_limit_and_merges() -> None:
    planner = ReadPlanner(SDM630_POINTS, max_registers=80)
    plan = planner.plan()
    assert all(block.count <= 80 for block in plan)
    assert sum(len(b.points) for b in plan) == len(SDM630_POINTS)
    # 29 values in 4 requests: measurements and totals, line-to-line
    # voltages, neutral current (18 registers away), per-phase energies.
    assert [(b.address, b.count) for b in plan] == [
        (0x0000, 0x4C),
        (0x00C8, 0x06),
        (0x00E0, 0x02),
        (0x015A, 0x0C),
    ]


def test_hole_is_left_out_and_never_read_across() -> None:
    points = [Point(f"p{a}", INPUT, a, DataType.UINT16) for a in (0, 1, 2, 3)]
    planner = ReadPlanner(points)
    assert [(b.address, b.count) for b in planner.plan()] == [(0, 4)]
    planner.mark_hole(points[2])
    assert [(b.address, b.count) for b in planner.plan()] == [(0, 2), (3, 1)]


def test_break_splits_future_plans() -> None:
    points = [Point(f"p{a}", INPUT, a, DataType.UINT16) for a in (0, 4, 8)]
    planner = ReadPlanner(points)
    first, second = split_block(planner.plan()[0])
    assert (first.address, second.address) == (0, 4)
    planner.mark_break(8)
    assert [(b.address, b.count) for b in planner.plan()] == [(0, 5), (8, 1)]


def test_gap_larger_than_max_gap_is_not_read_across() -> None:
    points = [
        Point("a", INPUT, 0, DataType.UINT16),
        Point("b", INPUT, 40, DataType.UINT16),
    ]
    assert len(ReadPlanner(points, max_gap=16).plan()) == 2
    assert len(ReadPlanner(points, max_gap=64).plan()) == 1


def test_tables_are_planned_apart() -> None:
    points = [
        Point("a", RegisterTable.INPUT, 0, DataType.UINT16),
        Point("b", RegisterTable.HOLDING, 1, DataType.UINT16),
    ]
    assert {b.table for b in ReadPlanner(points).plan()} == set(RegisterTable)
