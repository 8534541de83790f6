"""The aligned return history a portfolio is analysed on: the contract between market data,
risk and stress."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class ReturnsFrame:
    """Aligned simple returns, one column per holding, ready for risk and stress.

    Attributes
    ----------
    returns : DataFrame, shape (T, N)
        Simple periodic returns, no NaN. Columns are holding symbols in portfolio order
        (uncovered holdings have a column of zeros). The index is a ``DatetimeIndex`` of
        period-end dates, or a ``RangeIndex`` when the caller supplied undated returns.
    periods_per_year : int
        P of METRICS.md (inferred from the dates, or given).
    frequency : str
        'daily', 'weekly', 'monthly', 'quarterly', 'annual' or 'unknown'.
    proxies : dict
        Holding symbol -> series key used for its history when it is not the holding's own.
    uncovered : list
        Holdings with no history and no proxy.
    warnings : list
        Data-quality and window warnings, in words an advisor reads.
    """

    returns: pd.DataFrame
    periods_per_year: int
    frequency: str
    proxies: dict[str, str] = field(default_factory=dict)
    uncovered: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def dated(self) -> bool:
        return isinstance(self.returns.index, pd.DatetimeIndex)
