"""The user's own price files: CSV (long or wide) and XLSX, all or nothing.

Layouts (detected from the header, case-insensitive)
----------------------------------------------------
* long: ``date, symbol, close`` (``price``, ``value``, ``adj_close`` or ``adj close`` are
  accepted for ``close``), one price per row; other columns are ignored;
* wide: ``date, SYM1, SYM2, …``, one row per date; an empty cell means no price that day.

Dates are ISO 8601 (``YYYY-MM-DD``) or, in XLSX, date cells. Text is UTF-8 (a byte-order
mark is fine); a comma, semicolon or tab separates the columns. Any problem raises
:class:`DataError` naming the file, the row (the line number a spreadsheet shows, the header
being row 1) and the column, and nothing of the file is loaded.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from engine.errors import DataError
from engine.schemas.portfolio import MAX_HISTORY_POINTS

MAX_POINTS = MAX_HISTORY_POINTS
_VALUE_NAMES = ("close", "price", "value", "adj_close", "adj close")
_SYMBOL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/ \-]*$")
_MAX_BYTES = 50_000_000

__all__ = ["MAX_POINTS", "load_price_file"]


@dataclass(frozen=True)
class _Table:
    """Cells of a file as read, with the spreadsheet row number of each data row."""

    file: str
    header: list[str]
    rows: list[list[object]]
    lines: list[int]


def load_price_file(path: str | Path) -> dict[str, pd.Series]:
    """Prices by symbol from a CSV or XLSX file.

    Returns
    -------
    dict of symbol -> Series
        Ascending ``DatetimeIndex``, float64, ``name`` = symbol, in the file's column or
        first-appearance order.

    Raises
    ------
    DataError
        Missing columns, an unparsable date, an unparsable or non-finite number, a date twice
        for one symbol, an empty file, a wrong encoding (UTF-16, binary), or more than
        100,000 prices. ``file``, ``row`` and ``column`` say where.
    """
    path = Path(path)
    table = _read_xlsx(path) if path.suffix.lower() in (".xlsx", ".xlsm") else _read_csv(path)
    header = [h.strip().lower() for h in table.header]
    if "date" not in header:
        raise DataError("missing column 'date'", file=table.file, row=1, column="date")
    if "symbol" in header:
        series = _parse_long(table, header)
    else:
        series = _parse_wide(table, header)
    n = sum(len(s) for s in series.values())
    if n > MAX_POINTS:
        raise DataError(f"{n:,} prices; at most {MAX_POINTS:,} are accepted per file", file=table.file)
    return series


# --- reading -----------------------------------------------------------------------------------
def _decode(raw: bytes, name: str) -> str:
    if raw.startswith(b"PK\x03\x04"):
        raise DataError("this is an XLSX workbook (a zip file), not text: give it the .xlsx extension", file=name)
    sample = raw[:4096]
    # UTF-16 text without a byte-order mark still has a NUL in every other byte
    alternating = max(sample[0::2].count(0), sample[1::2].count(0)) > 0.4 * (len(sample) // 2)
    utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or alternating
    if utf16 or b"\x00" in sample:
        kind = "UTF-16" if utf16 else "binary data"
        raise DataError(f"wrong encoding ({kind}): save the file as UTF-8 CSV or as XLSX", file=name)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"wrong encoding: byte 0x{raw[exc.start]:02x} is not UTF-8; save the file as UTF-8",
                        file=name, row=line) from None


def _read_csv(path: Path) -> _Table:
    name = path.name
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise DataError(f"file larger than {_MAX_BYTES // 1_000_000} MB", file=name)
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc.strerror or exc}", file=name) from None
    text = _decode(raw, name)
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows, lines = [], []
    line = 0
    try:
        for record in reader:
            line, start = reader.line_num, line + 1
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = record
            else:
                rows.append(record)
                lines.append(start)
    except csv.Error as exc:
        raise DataError(f"malformed CSV: {exc}", file=name, row=reader.line_num) from None
    if header is None:
        raise DataError("empty file", file=name)
    return _Table(name, header, rows, lines)


def _read_xlsx(path: Path) -> _Table:
    name = path.name
    try:
        df = pd.read_excel(path, sheet_name=0, header=None, dtype=object, engine="openpyxl", na_filter=False)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(f"not a readable XLSX workbook ({type(exc).__name__})", file=name) from None
    cells = df.to_numpy(dtype=object)
    keep = [i for i in range(len(cells)) if any(_filled(c) for c in cells[i])]
    if not keep:
        raise DataError("empty file", file=name)
    header = ["" if not _filled(c) else str(c) for c in cells[keep[0]]]
    rows = [list(cells[i]) for i in keep[1:]]
    return _Table(name, header, rows, [int(df.index[i]) + 1 for i in keep[1:]])


def _filled(cell: object) -> bool:
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return False
    return not (isinstance(cell, str) and not cell.strip())


# --- parsing ---------------------------------------------------------------------------------
def _column(table: _Table, j: int) -> list[object]:
    return [row[j] if j < len(row) else None for row in table.rows]


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ][0-9:.+\-Z]*)?$")


def _date_cell(cell: object) -> object:
    """A cell to hand to the date parser, or None when it cannot be a date."""
    if isinstance(cell, str):
        text = cell.strip()
        return text if _ISO_DATE.match(text) else None
    if isinstance(cell, (pd.Timestamp, dt.datetime, dt.date)):
        return pd.Timestamp(cell)
    return None  # numbers (e.g. Excel serials typed as numbers) are not taken as dates


def _dates(table: _Table, j: int, column: str) -> np.ndarray:
    raw = _column(table, j)
    cells = [_date_cell(c) for c in raw]
    parsed = pd.to_datetime(pd.Series(cells, dtype=object), format="ISO8601", errors="coerce", utc=False)
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        msg = "missing date" if not _filled(raw[i]) else f"unparsable date '{raw[i]}' (expected YYYY-MM-DD)"
        raise DataError(msg, file=table.file, row=table.lines[i], column=column)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed.dt.normalize().to_numpy().astype("datetime64[us]")


def _numbers(table: _Table, j: int, column: str, *, optional: bool) -> np.ndarray:
    """Float values of column ``j``; NaN for an empty cell when ``optional``."""
    raw = _column(table, j)
    cells = [c.strip() if isinstance(c, str) else c for c in raw]
    cells = [None if not _filled(c) else c for c in cells]
    values = pd.to_numeric(pd.Series(cells, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
    empty = np.array([c is None for c in cells], dtype=bool)
    bad = ~np.isfinite(values) & ~(empty & optional)
    bools = np.array([isinstance(c, bool) for c in cells], dtype=bool)
    bad |= bools
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        c = cells[i]
        if c is None:
            msg = "missing price"
        elif np.isnan(values[i]) and str(c).strip().lower() not in ("nan", "-nan", "+nan"):
            msg = f"unparsable number '{c}'"
        else:
            msg = f"not a finite number '{c}'"
        raise DataError(msg, file=table.file, row=table.lines[i], column=column)
    return values


def _check_symbol(symbol: str, table: _Table, row: int, column: str) -> None:
    if not _SYMBOL_RE.match(symbol) or len(symbol) > 32:
        raise DataError(f"invalid symbol '{symbol}' (letters, digits and . _ : / - only, at most 32)",
                        file=table.file, row=row, column=column)


def _series(symbol: str, dates: np.ndarray, values: np.ndarray, lines: list[int], table: _Table,
            column: str) -> pd.Series:
    order = np.argsort(dates, kind="stable")
    d = dates[order]
    dup = np.flatnonzero(d[1:] == d[:-1])
    if dup.size:
        # report the later of the two rows, the one a person would delete
        pair = order[[dup[0], dup[0] + 1]]
        i = int(max(pair, key=lambda k: lines[k]))
        raise DataError(f"date {str(d[dup[0]])[:10]} appears twice for {symbol}", file=table.file,
                        row=lines[i], column=column)
    return pd.Series(values[order], index=pd.DatetimeIndex(d, name="date"), name=symbol, dtype=np.float64)


def _parse_long(table: _Table, header: list[str]) -> dict[str, pd.Series]:
    value_col = next((h for h in _VALUE_NAMES if h in header), None)
    if value_col is None:
        raise DataError("missing column 'close'", file=table.file, row=1, column="close")
    jd, js, jv = header.index("date"), header.index("symbol"), header.index(value_col)
    if not table.rows:
        raise DataError("no data rows below the header", file=table.file, row=2)
    dates = _dates(table, jd, table.header[jd].strip())
    values = _numbers(table, jv, table.header[jv].strip(), optional=False)
    symbols = []
    for i, cell in enumerate(_column(table, js)):
        s = str(cell).strip() if _filled(cell) else ""
        if not s:
            raise DataError("missing symbol", file=table.file, row=table.lines[i], column=table.header[js].strip())
        _check_symbol(s, table, table.lines[i], table.header[js].strip())
        symbols.append(s.upper())
    codes, uniques = pd.factorize(pd.Series(symbols))
    out = {}
    lines = np.asarray(table.lines)
    for k, sym in enumerate(uniques):
        idx = np.flatnonzero(codes == k)
        out[str(sym)] = _series(str(sym), dates[idx], values[idx], list(lines[idx]), table,
                                table.header[jd].strip())
    return out


def _parse_wide(table: _Table, header: list[str]) -> dict[str, pd.Series]:
    jd = header.index("date")
    names = [(j, table.header[j].strip()) for j in range(len(header)) if j != jd]
    names = [(j, n) for j, n in names if n or any(_filled(c) for c in _column(table, j))]
    if not names:
        raise DataError("no price columns: expected 'date,symbol,close' or 'date,SYM1,SYM2,…'",
                        file=table.file, row=1)
    seen: set[str] = set()
    for j, n in names:
        if not n:
            raise DataError(f"column {j + 1} has prices but no symbol in the header", file=table.file, row=1)
        _check_symbol(n, table, 1, n)
        if n.upper() in seen:
            raise DataError(f"symbol '{n}' appears twice in the header", file=table.file, row=1, column=n)
        seen.add(n.upper())
    if not table.rows:
        raise DataError("no data rows below the header", file=table.file, row=2)
    dates = _dates(table, jd, table.header[jd].strip())
    out = {}
    for j, n in names:
        values = _numbers(table, j, n, optional=True)
        has = np.isfinite(values)
        if not has.any():
            raise DataError(f"no prices for {n}", file=table.file, row=2, column=n)
        lines = [ln for ln, h in zip(table.lines, has, strict=True) if h]
        out[n.upper()] = _series(n.upper(), dates[has], values[has], lines, table, table.header[jd].strip())
    return out
