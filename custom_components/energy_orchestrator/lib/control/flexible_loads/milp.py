"""A small builder for mixed-integer linear programs, solved by HiGHS.

Variables come in blocks (bounds, costs, integrality as arrays); rows are
collected as sparse lists and handed to HiGHS in one call, which keeps
building a 48-hour model far below the solve's own time.
"""

from collections.abc import Sequence
from dataclasses import dataclass
import time

import highspy
import numpy as np

INFINITY = highspy.kHighsInf


class SolveError(RuntimeError):
    """HiGHS found no solution; the message says its status."""


@dataclass(frozen=True)
class Solution:
    """Values of every variable, the objective, and how the solve went."""

    values: np.ndarray
    objective: float
    optimal: bool
    gap: float
    seconds: float
    # The lowest objective HiGHS proved possible (the objective when optimal).
    dual_bound: float | None = None
    # With ``duals``: each row's dual value (d objective / d row bound) in
    # the linear program with the integers fixed at their values; None
    # when not asked for or when that program did not solve.
    row_duals: np.ndarray | None = None


class Model:
    """Variables and rows of one program; ``solve`` minimises the costs."""

    def __init__(self) -> None:
        """Start an empty model."""
        self._lower: list[np.ndarray] = []
        self._upper: list[np.ndarray] = []
        self._cost: list[np.ndarray] = []
        self._integer: list[np.ndarray] = []
        self.columns = 0
        self._row_lower: list[float] = []
        self._row_upper: list[float] = []
        self._starts: list[int] = []
        self._indices: list[int] = []
        self._values: list[float] = []

    def add(
        self,
        count: int,
        lower: float | Sequence[float] | np.ndarray = 0.0,
        upper: float | Sequence[float] | np.ndarray = INFINITY,
        cost: float | Sequence[float] | np.ndarray = 0.0,
        *,
        integer: bool = False,
    ) -> int:
        """Add ``count`` variables; return the index of the first."""
        first = self.columns
        self._lower.append(np.broadcast_to(np.asarray(lower, float), count).copy())
        self._upper.append(np.broadcast_to(np.asarray(upper, float), count).copy())
        self._cost.append(np.broadcast_to(np.asarray(cost, float), count).copy())
        self._integer.append(np.full(count, 1 if integer else 0, np.uint8))
        self.columns += count
        return first

    def row(
        self,
        indices: Sequence[int],
        values: Sequence[float],
        lower: float = -INFINITY,
        upper: float = INFINITY,
    ) -> int:
        """Add the row ``lower <= sum(values * x[indices]) <= upper``; return its index."""
        self._starts.append(len(self._indices))
        self._indices.extend(indices)
        self._values.extend(values)
        self._row_lower.append(lower)
        self._row_upper.append(upper)
        return len(self._row_lower) - 1

    def add_cost(self, index: int, cost: float) -> None:
        """Add to one variable's cost."""
        block, offset = self._locate(index)
        self._cost[block][offset] += cost

    def take_costs(self, first: int, last: int) -> dict[int, float]:
        """Return the costs of variables ``first`` to ``last - 1`` (not 0), and clear them."""
        taken: dict[int, float] = {}
        offset = 0
        for block in self._cost:
            begin, end = max(first - offset, 0), min(last - offset, len(block))
            for local in range(begin, end):
                if block[local]:
                    taken[offset + local] = float(block[local])
                    block[local] = 0.0
            offset += len(block)
        return taken

    def fix(self, index: int, lower: float, upper: float) -> None:
        """Narrow one variable's bounds."""
        block, offset = self._locate(index)
        self._lower[block][offset] = max(self._lower[block][offset], lower)
        self._upper[block][offset] = min(self._upper[block][offset], upper)

    def _locate(self, index: int) -> tuple[int, int]:
        """Return the block and offset of a variable."""
        for block, lower in enumerate(self._lower):
            if index < len(lower):
                return block, index
            index -= len(lower)
        raise IndexError(index)

    def solve(
        self,
        *,
        time_limit_s: float,
        mip_rel_gap: float,
        mip_abs_gap: float = 0.0,
        start: dict[int, float] | None = None,
        duals: bool = False,
    ) -> Solution:
        """Minimise; raise SolveError when HiGHS has no feasible solution.

        ``start`` gives some variables' values of a likely good solution
        (the previous plan's): HiGHS completes it and starts from there.
        With ``duals``, the integers are then fixed at their values and the
        linear program that is left solved again for its row duals: the
        marginal value of each row's bound with every on/off decision kept.
        """
        began = time.perf_counter()
        highs = highspy.Highs()  # type: ignore[no-untyped-call]  # its stub leaves __init__ untyped
        highs.setOptionValue("output_flag", False)
        highs.setOptionValue("time_limit", float(time_limit_s))
        highs.setOptionValue("mip_rel_gap", float(mip_rel_gap))
        highs.setOptionValue("mip_abs_gap", float(mip_abs_gap))
        highs.setOptionValue("threads", 1)
        # Fewer stored solutions and younger cuts: the plans are small, and
        # HiGHS's defaults spend most of their time at the root on them.
        highs.setOptionValue("mip_pool_soft_limit", 10)
        highs.setOptionValue("mip_lp_age_limit", 5)
        # RINS and RENS sub-MIPs took two thirds of a 48-hour plan's time and
        # rarely found what the other heuristics do not (docs/flexible-loads.md).
        highs.setOptionValue("mip_heuristic_run_rins", False)
        highs.setOptionValue("mip_heuristic_run_rens", False)
        lower = np.concatenate(self._lower) if self._lower else np.zeros(0)
        upper = np.concatenate(self._upper) if self._upper else np.zeros(0)
        highs.addVars(self.columns, lower, upper)
        every = np.arange(self.columns, dtype=np.int32)
        highs.changeColsCost(self.columns, every, np.concatenate(self._cost))
        integer = np.concatenate(self._integer)
        if integer.any():
            highs.changeColsIntegrality(self.columns, every, integer)
        if self._row_lower:
            highs.addRows(
                len(self._row_lower),
                np.asarray(self._row_lower, float),
                np.asarray(self._row_upper, float),
                len(self._indices),
                np.asarray(self._starts, np.int32),
                np.asarray(self._indices, np.int32),
                np.asarray(self._values, float),
            )
        if start:
            highs.setSolution(
                len(start),
                np.fromiter(start.keys(), np.int32, len(start)),
                np.fromiter(start.values(), float, len(start)),
            )
        highs.run()
        status = highs.getModelStatus()
        info = highs.getInfo()
        has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
        if not has_solution:
            raise SolveError(highs.modelStatusToString(status))
        values = np.asarray(highs.getSolution().col_value, float)
        optimal = status == highspy.HighsModelStatus.kOptimal
        gap = float(info.mip_gap) if integer.any() else 0.0
        objective = float(info.objective_function_value)
        dual = float(info.mip_dual_bound) if integer.any() else objective
        row_duals = _row_duals(highs, values, integer) if duals else None
        return Solution(
            values,
            objective,
            optimal,
            gap if np.isfinite(gap) else 0.0,
            time.perf_counter() - began,
            dual if np.isfinite(dual) else None,
            row_duals,
        )


def _row_duals(
    highs: highspy.Highs, values: np.ndarray, integer: np.ndarray
) -> np.ndarray | None:
    """Return the row duals with the integers fixed at ``values`` (None: no solve)."""
    if integer.any():
        fixed = np.flatnonzero(integer).astype(np.int32)
        levels = np.round(values[fixed])
        highs.changeColsIntegrality(len(fixed), fixed, np.zeros(len(fixed), np.uint8))
        highs.changeColsBounds(len(fixed), fixed, levels, levels)
        highs.run()
        if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
    solution = highs.getSolution()
    if not solution.dual_valid:
        return None
    return np.asarray(solution.row_dual, float)
