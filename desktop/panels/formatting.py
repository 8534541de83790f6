"""Numbers as an advisor reads them: ``12.3 %``, ``+1.23 pp``, ``$1,234,567``, ``—`` when undefined.

Every formatter takes ``None`` (a metric the engine could not compute, METRICS.md) and
answers :data:`DASH`; none of them computes anything beyond scaling for display. NaN and
infinity never reach here (the result models refuse them), but are shown as ``—`` too
rather than as ``nan``, should a caller pass one.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

__all__ = [
    "BANNER_STYLES",
    "DASH",
    "MINUS",
    "date_text",
    "money",
    "money_short",
    "number",
    "ordinal",
    "pct",
    "pct_tick",
    "pp",
    "ratio",
    "signed_pct",
    "units",
]

DASH = "—"
# A true minus sign: a hyphen is narrower than a plus sign and misaligns signed columns.
MINUS = "\u2212"

# Message banners: "info" neutral, "bound" a limit or data caveat the advisor should read, "error".
BANNER_STYLES = {
    "info": "background:#eef4fb; color:#1f4e89; border:1px solid #c9daf0; border-radius:4px; padding:6px 10px;",
    "bound": "background:#fff6e5; color:#7a4b00; border:1px solid #f0d49a; border-radius:4px; padding:6px 10px;",
    "error": "background:#fdecea; color:#8a1c12; border:1px solid #f3b8b1; border-radius:4px; padding:6px 10px;",
}


def _defined(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def _sign(text: str) -> str:
    return MINUS + text[1:] if text.startswith("-") else text


def pct(x: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.1234`` -> ``"12.3 %"``."""
    if not _defined(x):
        return DASH
    # Rounding may give "-0.0": a sign on zero reads as a loss that is not there.
    text = f"{x * 100:.{digits}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return _sign(text) + " %"


def pct_tick(x: float) -> str:
    """Chart axis text for a fraction: ``-0.25`` -> ``"−25 %"`` (whole percent unless small)."""
    digits = 0 if abs(x) >= 0.02 or x == 0 else 1
    return _sign(f"{x * 100:.{digits}f}") + " %"


def ordinal(p: float) -> str:
    """A percentile's name: ``5`` -> ``"5th"``, ``50.0`` -> ``"50th"``, ``1`` -> ``"1st"``."""
    n = round(p)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{p:g}{suffix}"


def signed_pct(x: float | None, digits: int = 1) -> str:
    """A fractional change with its sign: ``-0.339`` -> ``"−33.9 %"``, ``0.05`` -> ``"+5.0 %"``."""
    if not _defined(x):
        return DASH
    text = f"{x * 100:+.{digits}f}"
    if float(text) == 0:
        text = text[1:]
    return _sign(text) + " %"


def pp(x: float | None, digits: int = 2) -> str:
    """A difference of two weights in percentage points: ``0.0123`` -> ``"+1.23 pp"``."""
    if not _defined(x):
        return DASH
    text = f"{x * 100:+.{digits}f}"
    if float(text) == 0:
        text = text[1:]
    return _sign(text) + " pp"


def money(x: float | None, symbol: str = "$", digits: int = 0) -> str:
    """An amount with thousands separators: ``-1234567.4`` -> ``"−$1,234,567"``."""
    if not _defined(x):
        return DASH
    text = f"{abs(x):,.{digits}f}"
    negative = x < 0 and float(text.replace(",", "")) != 0
    return (MINUS if negative else "") + symbol + text


def money_short(x: float | None, symbol: str = "$") -> str:
    """A compact amount for chart axes: ``2_208_225`` -> ``"$2.21M"``, ``950`` -> ``"$950"``."""
    if not _defined(x):
        return DASH
    size = abs(x)
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= scale:
            text = f"{size / scale:.3g}{suffix}"
            break
    else:
        text = f"{size:.0f}"
    return (MINUS if x < 0 else "") + symbol + text


def ratio(x: float | None, digits: int = 2) -> str:
    """A dimensionless ratio (Sharpe, beta): ``1.8551`` -> ``"1.86"``."""
    if not _defined(x):
        return DASH
    text = f"{x:.{digits}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return _sign(text)


def number(x: float | None, digits: int = 2) -> str:
    """A plain number with thousands separators: ``1234.5`` -> ``"1,234.50"``."""
    if not _defined(x):
        return DASH
    return _sign(f"{x:,.{digits}f}")


def units(x: float | None) -> str:
    """Units traded: whole numbers without decimals, fractional lots (crypto 1e-8) as needed.

    ``118.0`` -> ``"118"``, ``14.82`` -> ``"14.82"``, ``0.00312`` -> ``"0.00312"``.
    """
    if not _defined(x):
        return DASH
    text = f"{x:,.8f}".rstrip("0").rstrip(".")
    return _sign(text) if text not in ("", "-0") else "0"


def date_text(d: dt.date | None) -> str:
    """ISO date, the form the bundled data and the API use: ``2014-01-03``."""
    return d.isoformat() if d is not None else DASH


def bullets(notes: Sequence[str], limit: int = 8) -> str:
    """Rich-text bullet lines, the first ``limit`` and then how many more: a label laying out
    5,000 warnings (one per proxied holding) would hold the GUI thread for seconds."""
    shown = "<br>".join(f"• {n}" for n in notes[:limit])
    more = len(notes) - limit
    return shown + (f"<br>• … and {more:,} more like these" if more > 0 else "")


def short_list(items: Sequence[str], limit: int = 20) -> str:
    """``"A, B, C"``, or the first ``limit`` and ``"… and n more"``."""
    more = len(items) - limit
    return ", ".join(items[:limit]) + (f", … and {more:,} more" if more > 0 else "")
