import csv
import io

import pytest

from gateway.core.csv_safe import safe_cell, safe_row


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=SUM(A1:A2)", "'=SUM(A1:A2)"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("grand-bend-isd", "grand-bend-isd"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (3, "3"),
        (-3, "'-3"),
    ],
)
def test_safe_cell(value: object, cell: str) -> None:
    assert safe_cell(value) == cell


def test_safe_row_round_trips_through_csv() -> None:
    out = io.StringIO()
    csv.writer(out).writerow(safe_row(["=1+1", "ok", None]))
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["'=1+1", "ok", ""]
