"""Reading CSV files for import: decoding, headers and separators, line numbers, bad rows."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from mailinglist import csvfiles
from mailinglist.addresses import email_normalise
from mailinglist.csvfiles import CsvFormatError, ParsedRow, RowError
from tests.mailinglist.imports_helpers import hostile_cells, is_storable


def _rows(text: str) -> list[ParsedRow | RowError]:
    return list(csvfiles.csv_rows_read(text=text))


# --- Reading files ---------------------------------------------------------------------------


def test_a_header_with_email_and_name_in_any_case_is_read_and_other_columns_ignored() -> None:
    rows = _rows("Name,EMAIL,Signed up\nAda Lovelace, Ada@Example.COM ,2024-01-02\n")

    assert rows == [ParsedRow(line=2, email="Ada@example.com", name="Ada Lovelace")]


@pytest.mark.parametrize(
    "text",
    [
        "\ufeffemail;name\nada@example.com;Ada\n",  # Excel "CSV UTF-8" in a European locale
        "E-mail\tName\nada@example.com\tAda\n",
        "email address,name\r\nada@example.com,Ada\r\n",
    ],
)
def test_byte_order_mark_semicolons_tabs_and_header_variants_are_understood(text: str) -> None:
    assert _rows(text) == [ParsedRow(line=2, email="ada@example.com", name="Ada")]


def test_a_plain_list_of_addresses_needs_no_header_and_only_the_first_column_is_read() -> None:
    rows = _rows("ada@example.com,Ada\nbob@example.com,2024-05-01\n")

    assert rows == [
        ParsedRow(line=1, email="ada@example.com", name=""),
        ParsedRow(line=2, email="bob@example.com", name=""),
    ]


def test_line_numbers_are_the_spreadsheet_rows_header_first_blank_rows_counted() -> None:
    text = 'email,name\nada@example.com,Ada\n\n"bad address",x\nbob@example.com,"Bob\nSmith"\n,\n'

    rows = _rows(text)

    assert rows == [
        ParsedRow(line=2, email="ada@example.com", name="Ada"),
        RowError(line=4, email="bad address", reason=rows[1].reason),  # type: ignore[union-attr]
        ParsedRow(line=5, email="bob@example.com", name="Bob Smith"),
    ]
    assert "spaces" in rows[1].reason  # type: ignore[union-attr]


def test_a_row_without_an_address_is_reported_not_skipped() -> None:
    assert _rows("email,name\n,Ada\n") == [
        RowError(line=2, email="", reason="No email address in this row.")
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("  \n\n", "empty"),
        ("name,phone\nAda,123\n", "“email” column"),
        ("email\nada@example.com\x00\n", "NUL"),
    ],
)
def test_a_file_that_cannot_be_read_says_why(text: str, message: str) -> None:
    with pytest.raises(CsvFormatError, match=message):
        list(csvfiles.csv_rows_read(text=text))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00", "workbook"),
        ("email\nrené@exämple.com\n".encode("latin-1"), "not UTF-8"),
        ("email\nada@example.com\n".encode("utf-16"), "not UTF-8"),
    ],
)
def test_files_that_are_not_utf8_text_are_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(CsvFormatError, match=message):
        csvfiles.csv_text_decode(data=data)


def test_a_cell_too_big_for_the_csv_reader_fails_the_whole_file_with_its_line() -> None:
    text = "email\nada@example.com\n" + "x" * 200_000 + "@example.com\n"

    with pytest.raises(CsvFormatError, match=r"Line 3 .* longer than"):
        csvfiles.csv_rows_count(text=text)


# --- Hostile input (hypothesis) --------------------------------------------------------------


@given(st.binary(max_size=2000))
def test_any_bytes_either_decode_or_raise_the_documented_error(data: bytes) -> None:
    try:
        text = csvfiles.csv_text_decode(data=data)
    except CsvFormatError:
        return
    assert "\x00" not in text


@given(st.text(max_size=3000))
def test_any_text_reads_as_rows_or_raises_the_documented_error(text: str) -> None:
    try:
        rows = list(csvfiles.csv_rows_read(text=text))
    except CsvFormatError:
        return
    lines = [row.line for row in rows]
    assert lines == sorted(set(lines))
    assert all(line >= 1 for line in lines)
    for row in rows:
        if isinstance(row, ParsedRow):
            assert is_storable(row.email)
            assert "\n" not in row.name and "\r" not in row.name
            assert len(row.name) <= 100
        else:
            assert row.reason
            assert len(row.email) <= 254


@given(st.lists(st.tuples(hostile_cells, hostile_cells), min_size=1, max_size=15))
def test_written_csv_comes_back_row_by_row_with_only_valid_addresses(
    cells: list[tuple[str, str]],
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["email", "name"])
    writer.writerows(cells)

    if any("\x00" in email + name for email, name in cells):
        # The only refusal of a whole well-formed CSV: NUL means it is not a text file.
        with pytest.raises(CsvFormatError, match="NUL"):
            list(csvfiles.csv_rows_read(text=buffer.getvalue()))
        return

    rows = list(csvfiles.csv_rows_read(text=buffer.getvalue()))

    # Blank rows are skipped; every other row is accounted for, in order, with its line number.
    kept = [(email, name) for email, name in cells if email.strip() or name.strip()]
    assert len(rows) == len(kept)
    for row, (email, _name) in zip(rows, kept, strict=True):
        if isinstance(row, ParsedRow):
            assert is_storable(row.email)
            assert row.email.lower() == email_normalise(csvfiles._formula_unguard(email)).lower()
        else:
            with pytest.raises(ValidationError):
                email_normalise(csvfiles._formula_unguard(email))
