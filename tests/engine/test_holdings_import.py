"""Custodian holdings files: column mapping, custodian number formats, whole-file refusal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine.errors import DataError
from engine.holdings_import import ColumnMapping, guess_mapping, parse_holdings, read_table
from engine.schemas import Holding, SeriesInfo


def _info(symbol: str, asset_class: str, price: float) -> SeriesInfo:
    return SeriesInfo(key=symbol, symbol=symbol, name=f"{symbol} series", data_class="x", asset_class=asset_class,
                      exposure=None, frequency="daily", start=dt.date(2000, 1, 3), end=dt.date(2020, 1, 2), rows=10,
                      currency="USD", units="USD", source="test", license="test", last_price=price)


CATALOGUE = [_info("SPY", "etf", 321.5), _info("AGG", "etf", 112.0)]


def _write(tmp_path: Path, text: str, name: str = "holdings.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_custodian_csv_with_mapping_and_number_formats(tmp_path: Path) -> None:
    path = _write(tmp_path, '\ufeffTicker;Description;Qty;Last Price\nSPY;S&P 500 ETF;"1,200";$321.40\n'
                            'agg;US Agg;300;112.25\n\n')
    table = read_table(path)
    mapping = guess_mapping(table.header)
    assert mapping == ColumnMapping(symbol="Ticker", quantity="Qty", price="Last Price", name="Description")
    existing = [Holding(symbol="AGG", asset_class="etf", quantity=1.0, price=1.0, target_weight=0.4)]
    holdings = parse_holdings(table, mapping, catalogue=CATALOGUE, existing=existing)
    assert [(h.symbol, h.name, h.asset_class, h.quantity, h.price, h.target_weight) for h in holdings] == [
        ("SPY", "S&P 500 ETF", "etf", 1200.0, 321.4, 0.0),
        ("AGG", "US Agg", "etf", 300.0, 112.25, 0.4),
    ]


def test_missing_price_comes_from_the_catalogue(tmp_path: Path) -> None:
    path = _write(tmp_path, "Symbol,Quantity,Target\nSPY,10,60%\nAGG,20,0.4\n")
    holdings = parse_holdings(read_table(path), ColumnMapping("Symbol", "Quantity", target_weight="Target"),
                              catalogue=CATALOGUE)
    assert [(h.price, h.name, h.target_weight) for h in holdings] == [(321.5, "SPY series", 0.6),
                                                                      (112.0, "AGG series", 0.4)]


@pytest.mark.parametrize(("text", "row", "column", "msg"), [
    ("Symbol,Quantity,Price\nSPY,10,1\nAGG,-5,1\n", 3, "Quantity", "greater than or equal to 0"),
    ("Symbol,Quantity,Price\nSPY,ten,1\n", 2, "Quantity", "valid number"),
    ("Symbol,Quantity\nSPY,1\nXYZ,2\n", 3, "Symbol", "not in the bundled catalogue"),
    ("Symbol,Quantity,Price\nSPY,1,1\nSPY,2,1\n", 3, "Symbol", "already on row 2"),
    ("Symbol,Quantity,Price\nSPY,1,0\n", 2, "Price", "greater than 0"),
])
def test_a_bad_cell_refuses_the_whole_file_naming_row_and_column(tmp_path: Path, text, row, column, msg) -> None:
    path = _write(tmp_path, text)
    table = read_table(path)
    with pytest.raises(DataError, match=msg) as exc:
        parse_holdings(table, guess_mapping(table.header), catalogue=CATALOGUE)
    assert (exc.value.file, exc.value.row, exc.value.column) == ("holdings.csv", row, column)
    assert exc.value.message.startswith(f"holdings.csv, row {row}, column '{column}': ")


def test_unreadable_layouts_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="the file is empty"):
        read_table(_write(tmp_path, "\n\n"))
    with pytest.raises(DataError, match="header but no holdings"):
        read_table(_write(tmp_path, "Symbol,Quantity\n"))
    with pytest.raises(DataError, match="unsupported file type"):
        read_table(_write(tmp_path, "x", "h.pdf"))
    with pytest.raises(DataError, match="row 3: the row has 3 cells; the header has 2"):
        read_table(_write(tmp_path, "Symbol,Quantity\nSPY,1\nAGG,2,9\n"))
    table = read_table(_write(tmp_path, "Symbol,Quantity\nSPY,1\n"))
    with pytest.raises(DataError, match="column 'Px': the mapped column is not in the file"):
        parse_holdings(table, ColumnMapping("Symbol", "Quantity", price="Px"))
    assert guess_mapping(["Account", "Value"]) is None


def test_xlsx_export(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Symbol", "Shares", "Price", "Asset Class"])
    sheet.append(["SPY", 12, 300.5, "ETF"])
    sheet.append(["XYZ", 3.5, 20, "Stock"])
    path = tmp_path / "export.xlsx"
    book.save(path)
    table = read_table(path)
    holdings = parse_holdings(table, guess_mapping(table.header))
    assert [(h.symbol, h.quantity, h.price, h.asset_class) for h in holdings] == [
        ("SPY", 12.0, 300.5, "etf"), ("XYZ", 3.5, 20.0, "stock")]
