"""Read holdings from a custodian's CSV or XLSX export, with a user-chosen column mapping.

A file is accepted whole or refused whole: the first bad cell raises :class:`DataError` naming
the file, the spreadsheet row (the header is row 1, as the user sees it in a spreadsheet) and
the column. Each holding is validated by the engine's :class:`Holding` model, so a refusal
carries the engine's own message.

Custodian exports write numbers as text with thousands separators, currency signs and
percent signs ("$1,234.50", "12.5 %"); those forms are read. Blank lines are skipped.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from engine.errors import DataError, InvalidRequest
from engine.schemas import DATA_CLASS_MAP, Holding, SeriesInfo
from engine.service import validate

__all__ = ["ColumnMapping", "Table", "guess_mapping", "parse_holdings", "read_table"]

#: Header words custodians use for each field, lower case, in order of preference.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "symbol": ("symbol", "ticker", "security id", "instrument", "code"),
    "quantity": ("quantity", "qty", "shares", "units", "position", "holding"),
    "price": ("price", "last price", "close", "market price", "unit price"),
    "name": ("name", "description", "security name", "security"),
    "asset_class": ("asset class", "asset_class", "class", "type", "security type"),
    "target_weight": ("target", "target weight", "target_weight", "model weight"),
}


@dataclass(frozen=True)
class ColumnMapping:
    """Which header holds each field. ``symbol`` and ``quantity`` are required; the others
    are optional (price and name default from the bundled catalogue, the asset class too)."""

    symbol: str
    quantity: str
    price: str | None = None
    name: str | None = None
    asset_class: str | None = None
    target_weight: str | None = None

    def columns(self) -> dict[str, str]:
        """Field name -> header, for the mapped fields only."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


@dataclass(frozen=True)
class Table:
    """A file's header and its data rows (cells as text), with their spreadsheet row numbers."""

    file: str
    header: list[str]
    rows: list[list[str]]
    row_numbers: list[int]


# --- reading ----------------------------------------------------------------------------------
def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return str(value).strip()


def _read_csv(path: Path) -> list[tuple[int, list[str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_text(encoding="cp1252")  # older custodian exports
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [(i, [c.strip() for c in row]) for i, row in enumerate(csv.reader(io.StringIO(text), dialect), start=1)]


def _read_xlsx(path: Path) -> list[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        return [(i, [_cell_text(v) for v in row]) for i, row in enumerate(sheet.iter_rows(values_only=True), start=1)]
    finally:
        workbook.close()


def read_table(path: str | os.PathLike[str]) -> Table:
    """Read the first sheet (XLSX) or the file (CSV, delimiter sniffed); the first non-blank
    row is the header.

    Raises
    ------
    DataError
        Unreadable or empty file, an unknown extension, or a blank or repeated header.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            lines = _read_csv(path)
        elif suffix in (".xlsx", ".xlsm"):
            lines = _read_xlsx(path)
        else:
            raise DataError("unsupported file type; use CSV or XLSX", file=path.name)
    except DataError:
        raise
    except Exception as exc:  # openpyxl/zipfile/csv raise many types for a corrupt file
        raise DataError(f"cannot read the file: {exc}", file=path.name) from None
    lines = [(n, cells) for n, cells in lines if any(cells)]
    if not lines:
        raise DataError("the file is empty", file=path.name)
    (header_row, header), body = lines[0], lines[1:]
    while header and not header[-1]:
        header.pop()
    for j, name in enumerate(header):
        if not name:
            raise DataError(f"column {j + 1} has no header", file=path.name, row=header_row)
        if header.index(name) != j:
            raise DataError("the header is repeated", file=path.name, row=header_row, column=name)
    if not body:
        raise DataError("the file has a header but no holdings", file=path.name)
    width = len(header)
    rows = [(cells + [""] * width)[:width] for _, cells in body]
    for (n, cells) in body:
        if any(cells[width:]):
            raise DataError(f"the row has {len(cells)} cells; the header has {width}", file=path.name, row=n)
    return Table(file=path.name, header=header, rows=rows, row_numbers=[n for n, _ in body])


def guess_mapping(header: Sequence[str]) -> ColumnMapping | None:
    """A mapping from the usual header names, or ``None`` if symbol or quantity is not found."""
    lowered = {h.strip().lower(): h for h in header}
    found: dict[str, str] = {}
    for field_name, words in _SYNONYMS.items():
        for word in words:
            if word in lowered and lowered[word] not in found.values():
                found[field_name] = lowered[word]
                break
    if "symbol" not in found or "quantity" not in found:
        return None
    return ColumnMapping(**found)


# --- parsing ----------------------------------------------------------------------------------
def _number(text: str) -> float | str:
    """A custodian's number as a float ("$1,234.50", "(12)", "12.5%"), or the text unchanged so
    that the engine's validation words the refusal."""
    s = text.replace("\u00a0", "").replace(" ", "").replace(",", "").replace("$", "").replace("€", "").replace("£", "")
    negative = s.startswith("(") and s.endswith(")")
    s = s.strip("()")
    percent = s.endswith("%")
    s = s.rstrip("%")
    try:
        value = float(s)
    except ValueError:
        return text
    value = -value if negative else value
    return value / 100.0 if percent else value


def _row_dict(cells: Mapping[str, str], by_symbol: Mapping[str, SeriesInfo],
              targets: Mapping[str, float]) -> tuple[dict[str, Any], dict[str, str]]:
    """The holding's fields and, for each, which column it came from (for error messages)."""
    symbol = cells.get("symbol", "").strip().upper()
    info = by_symbol.get(symbol)
    row: dict[str, Any] = {"symbol": symbol, "quantity": _number(cells.get("quantity", ""))}
    source = {"symbol": "symbol", "quantity": "quantity"}
    if cells.get("price"):
        row["price"], source["price"] = _number(cells["price"]), "price"
    elif info is not None and info.last_price is not None:
        row["price"], source["price"] = info.last_price, "symbol"
    if cells.get("name"):
        row["name"] = cells["name"][:200]
    elif info is not None:
        row["name"] = info.name[:200]
    if cells.get("asset_class"):
        row["asset_class"], source["asset_class"] = cells["asset_class"].strip().lower().replace(" ", "_"), "asset_class"
    elif info is not None and info.asset_class is not None:
        row["asset_class"], source["asset_class"] = info.asset_class, "symbol"
    elif info is not None and info.data_class in DATA_CLASS_MAP:
        row["asset_class"], source["asset_class"] = DATA_CLASS_MAP[info.data_class][0], "symbol"
    if cells.get("target_weight"):
        row["target_weight"], source["target_weight"] = _number(cells["target_weight"]), "target_weight"
    else:
        row["target_weight"] = targets.get(symbol, 0.0)
    return row, source


def parse_holdings(
    table: Table,
    mapping: ColumnMapping,
    *,
    catalogue: Iterable[SeriesInfo] = (),
    existing: Iterable[Holding] = (),
) -> list[Holding]:
    """Turn a table into validated holdings, or refuse the whole table.

    Parameters
    ----------
    table
        From :func:`read_table`.
    mapping
        Which header holds each field; every mapped header must exist.
    catalogue
        Bundled series: a symbol found there supplies a missing price (its latest bundled
        price), name and asset class.
    existing
        The holdings being replaced: their target weights are kept for the same symbols when
        the file has no target column (custodian exports never do); other targets are 0.

    Raises
    ------
    DataError
        At the first bad cell, with ``row`` (spreadsheet row) and ``column`` (the header).
    """
    columns = mapping.columns()
    for header in columns.values():
        if header not in table.header:
            raise DataError("the mapped column is not in the file", file=table.file, column=header)
    index = {f: table.header.index(h) for f, h in columns.items()}
    by_symbol = {s.symbol.upper(): s for s in catalogue if s.asset_class is not None or s.data_class in DATA_CLASS_MAP}
    targets = {h.symbol.upper(): h.target_weight for h in existing}
    holdings: list[Holding] = []
    seen: dict[str, int] = {}
    for number, cells in zip(table.row_numbers, table.rows, strict=True):
        row, source = _row_dict({f: cells[j] for f, j in index.items()}, by_symbol, targets)
        try:
            holding = validate(Holding, row)
        except InvalidRequest as exc:
            detail = exc.details[0]
            field_name = str(detail["loc"][0]) if detail["loc"] else "symbol"
            column = columns.get(source.get(field_name, field_name), columns["symbol"])
            msg = detail["msg"]
            if detail["type"] == "missing":
                msg = f"no {field_name.replace('_', ' ')}: the symbol is not in the bundled catalogue; map a column for it"
            raise DataError(f"{field_name.replace('_', ' ')}: {msg}", file=table.file, row=number, column=column) from None
        if holding.symbol in seen:
            raise DataError(f"symbol {holding.symbol} is already on row {seen[holding.symbol]}",
                            file=table.file, row=number, column=columns["symbol"])
        seen[holding.symbol] = number
        holdings.append(holding)
    return holdings
