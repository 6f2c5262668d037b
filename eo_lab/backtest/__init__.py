"""Backtests behind `eo backtest`, `eo backtest-bound` and `eo backtest-ev`."""
