"""User price files: long and wide CSV, XLSX; every bad file names its file, row and column."""

from __future__ import annotations

import codecs
import datetime as dt
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from engine.errors import DataError
from engine.market_data import MarketData, portfolio_returns
from engine.price_files import MAX_POINTS, load_price_file
from engine.schemas import Holding, Portfolio


def _write(tmp_path: Path, text: str, name: str = "prices.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _error(path: Path) -> DataError:
    with pytest.raises(DataError) as err:
        load_price_file(path)
    return err.value


# --- good files --------------------------------------------------------------------------------
def test_long_csv(tmp_path):
    path = _write(tmp_path, "date,symbol,close\n2020-01-03,aaa,11\n2020-01-02,AAA,10.5\n2020-01-02,BBB,5\n")
    out = load_price_file(path)
    assert list(out) == ["AAA", "BBB"]
    aaa = out["AAA"]
    assert aaa.to_list() == [10.5, 11.0]  # sorted by date
    assert list(aaa.index) == [pd.Timestamp("2020-01-02"), pd.Timestamp("2020-01-03")]
    assert (aaa.name, aaa.dtype) == ("AAA", np.float64)


def test_wide_csv_with_bom_blank_lines_and_gaps(tmp_path):
    text = "\ufeffDate,SPY,Gold Fund\n2020-01-02,300.5,\n\n2020-01-03,301,1500\n2020-01-06,302.25,1510\n"
    out = load_price_file(_write(tmp_path, text))
    assert list(out) == ["SPY", "GOLD FUND"]
    assert out["SPY"].to_list() == [300.5, 301.0, 302.25]
    assert out["GOLD FUND"].to_list() == [1500.0, 1510.0]
    assert out["GOLD FUND"].index[0] == pd.Timestamp("2020-01-03")


@pytest.mark.parametrize("sep", [";", "\t"])
def test_other_separators(tmp_path, sep):
    out = load_price_file(_write(tmp_path, f"date{sep}A{sep}B\n2020-01-02{sep}1{sep}2\n"))
    assert (out["A"].iloc[0], out["B"].iloc[0]) == (1.0, 2.0)


def test_long_csv_alternative_value_column_and_extra_columns(tmp_path):
    out = load_price_file(_write(tmp_path, "Symbol,Note,Date,Adj Close\nX,hi,2020-01-02,1.25\nX,,2020-01-03,1.5\n"))
    assert out["X"].to_list() == [1.25, 1.5]


def test_round_trip_of_real_prices(tmp_path):
    market = MarketData.bundled()
    spy, agg = market.prices("SPY")["2015"], market.prices("AGG")["2015"]
    wide = pd.DataFrame({"SPY": spy, "AGG": agg})
    wide.index = wide.index.strftime("%Y-%m-%d")
    wide.to_csv(tmp_path / "wide.csv", index_label="date", float_format="%.10g")
    out = load_price_file(tmp_path / "wide.csv")
    np.testing.assert_allclose(out["SPY"].to_numpy(), spy.to_numpy(), rtol=1e-9)
    assert out["AGG"].index.equals(agg.index)


def test_xlsx_long_and_wide(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["date", "A", "B"])
    ws.append([dt.datetime(2020, 1, 2), 1.5, None])
    ws.append(["2020-01-03", 2, 3.25])
    wb.save(tmp_path / "wide.xlsx")
    out = load_price_file(tmp_path / "wide.xlsx")
    assert out["A"].to_list() == [1.5, 2.0] and out["B"].to_list() == [3.25]
    assert out["A"].index[0] == pd.Timestamp("2020-01-02")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Date", "Symbol", "Close"])
    ws.append([dt.date(2020, 1, 2), "x", 10])
    wb.save(tmp_path / "long.xlsx")
    assert load_price_file(tmp_path / "long.xlsx")["X"].to_list() == [10.0]


def test_loaded_file_feeds_a_portfolio(tmp_path):
    market = MarketData.bundled()
    spy = market.prices("SPY")["2018":"2019"]
    pd.DataFrame({"date": spy.index.strftime("%Y-%m-%d"), "symbol": "HOUSE", "close": spy.to_numpy() * 3}).to_csv(
        tmp_path / "house.csv", index=False, float_format="%.10g")
    mine = market.with_user_series(load_price_file(tmp_path / "house.csv"), "house.csv")
    p = Portfolio(holdings=[Holding(symbol="HOUSE", asset_class="mutual_fund", quantity=1.0, price=1.0,
                                    target_weight=0.5),
                            Holding(symbol="SPY", asset_class="etf", quantity=1.0, price=1.0, target_weight=0.5)])
    frame = portfolio_returns(p, market=mine)
    np.testing.assert_allclose(frame.returns["HOUSE"], frame.returns["SPY"], rtol=1e-8)
    assert frame.proxies == {} and frame.uncovered == []


# --- bad files: file, row (as a spreadsheet numbers it) and column -----------------------------
@pytest.mark.parametrize(("text", "row", "column", "message"), [
    ("when,A\n2020-01-02,1\n", 1, "date", "missing column 'date'"),
    ("date,symbol\n2020-01-02,A\n", 1, "close", "missing column 'close'"),
    ("date,A\n2020-01-02,1\n2020-13-01,2\n", 3, "date", "unparsable date '2020-13-01'"),
    ("date,A\n2020-01-02,1\n02/01/2020,2\n", 3, "date", "expected YYYY-MM-DD"),
    ("date,A\n2020-01-02,1\n,2\n", 3, "date", "missing date"),
    ("date,A,B\n2020-01-02,1,2\n\n2020-01-03,1.5,abc\n", 4, "B", "unparsable number 'abc'"),
    ("date,symbol,close\n2020-01-02,A,1\n2020-01-03,A,inf\n", 3, "close", "not a finite number 'inf'"),
    ("date,symbol,close\n2020-01-02,A,NaN\n", 2, "close", "not a finite number"),
    ("date,symbol,close\n2020-01-02,A,\n", 2, "close", "missing price"),
    ("date,symbol,close\n2020-01-02,A,1\n2020-01-03,B,1\n2020-01-02,a,2\n", 4, "date", "2020-01-02 appears twice for A"),
    ("date,A\n2020-01-02,1\n2020-01-03,2\n2020-01-02,3\n", 4, "date", "appears twice for A"),
    ("date,symbol,close\n2020-01-02,,1\n", 2, "symbol", "missing symbol"),
    ("date,symbol,close\n2020-01-02,$BAD,1\n", 2, "symbol", "invalid symbol '$BAD'"),
    ("date,A,a\n2020-01-02,1,2\n", 1, "a", "appears twice in the header"),
    ("date,A\n2020-01-02,\n", 2, "A", "no prices for A"),
])
def test_bad_csv(tmp_path, text, row, column, message):
    err = _error(_write(tmp_path, text, "bad.csv"))
    assert (err.file, err.row, err.column) == ("bad.csv", row, column)
    assert message in err.message and err.message.startswith(f"bad.csv, row {row}, column '{column}'")
    assert err.details == [{"loc": ["bad.csv", row, column], "msg": err.details[0]["msg"], "type": "data_error"}]


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty file"), ("\n \n\n", "empty file"), ("date,A\n", "no data rows"), ("date\n2020-01-02\n", "no price columns"),
])
def test_empty_files(tmp_path, text, message):
    err = _error(_write(tmp_path, text, "e.csv"))
    assert message in err.message and err.file == "e.csv"


def test_wrong_encodings(tmp_path):
    text = "date,A\n2020-01-02,1\n"
    for encoding in ("utf-16", "utf-16-le"):
        err = _error(_write(tmp_path, text, "u16.csv", encoding))
        assert "UTF-16" in err.message and err.file == "u16.csv"
    binary = tmp_path / "blob.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    assert "binary" in _error(binary).message
    latin = _write(tmp_path, "date,A\n2020-01-02,1\n2020-01-03,2\nSoci\u00e9t\u00e9,3\n", "latin.csv", "latin-1")
    err = _error(latin)
    assert (err.row, "not UTF-8" in err.message) == (4, True)
    assert codecs.BOM_UTF8 not in latin.read_bytes()


def test_xlsx_named_csv_and_broken_xlsx(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["date", "A"])
    wb.save(tmp_path / "book.xlsx")
    (tmp_path / "book.csv").write_bytes((tmp_path / "book.xlsx").read_bytes())
    assert ".xlsx extension" in _error(tmp_path / "book.csv").message
    (tmp_path / "broken.xlsx").write_text("date,A\n2020-01-02,1\n")
    assert "not a readable XLSX" in _error(tmp_path / "broken.xlsx").message


def test_bad_xlsx_cell_names_the_spreadsheet_row(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A3"], ws["B3"] = "date", "SPY"  # header on row 3 after two blank rows
    ws["A4"], ws["B4"] = dt.datetime(2020, 1, 2), 300.0
    ws["A6"], ws["B6"] = dt.datetime(2020, 1, 3), "n/a"
    wb.save(tmp_path / "sheet.xlsx")
    err = _error(tmp_path / "sheet.xlsx")
    assert (err.file, err.row, err.column) == ("sheet.xlsx", 6, "SPY")
    ws["B6"], ws["A7"], ws["B7"] = 301.0, 43833, 302.0  # an Excel serial typed as a number is not a date
    wb.save(tmp_path / "sheet.xlsx")
    err = _error(tmp_path / "sheet.xlsx")
    assert (err.row, err.column) == (7, "date") and "unparsable date '43833'" in err.message
    ws["B7"] = True
    ws["A7"] = "2020-01-06"
    wb.save(tmp_path / "sheet.xlsx")
    assert "not a finite number 'True'" in _error(tmp_path / "sheet.xlsx").message


def test_point_limit(tmp_path):
    dates = pd.bdate_range("1700-01-01", periods=MAX_POINTS // 2 + 1).strftime("%Y-%m-%d")
    body = "\n".join(f"{d},1,2" for d in dates)
    err = _error(_write(tmp_path, "date,A,B\n" + body + "\n", "big.csv"))
    assert "100,002 prices; at most 100,000" in err.message
    ok = load_price_file(_write(tmp_path, "date,A\n" + "\n".join(f"{d},1" for d in dates) + "\n", "ok.csv"))
    assert len(ok["A"]) == MAX_POINTS // 2 + 1
