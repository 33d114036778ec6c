"""CSV files of subscribers: reading an upload row by row, and writing an export.

How a file is read (the upload page says the same to staff):
- UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8"); separated by commas, semicolons
  (Excel in many European locales) or tabs, whichever the first line has most of.
- The first row is a header naming an `email` column (any case; "e-mail" and "email address" also
  work) and optionally a `name` column; other columns are ignored. A file whose very first cell
  is already an address is read as a plain list without a header: the address is the first
  column and nothing else is read, because guessing what other columns mean is how names end up
  holding dates.
- Line numbers in reports are the row numbers a spreadsheet shows, the header being line 1. A text
  editor shows the same numbers unless a quoted cell spans several lines.
- Blank rows are skipped silently; they are not counted.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet

from mailinglist.addresses import MAX_EMAIL_LENGTH, email_normalise, name_clean
from mailinglist.models import (
    Subscriber,
    Subscription,
)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
SAMPLE_SIZE = 20  # rows shown in the import preview
EMAIL_HEADERS = frozenset({"email", "e-mail", "email address", "e-mail address", "email_address"})
NAME_HEADERS = frozenset({"name", "full name", "full_name"})
DELIMITERS = (",", ";", "\t")
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, OWASP); the
# export prefixes such cells with a quote, which the import takes off again so that an export
# can be imported back unchanged.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXPORT_COLUMNS = ["email", "name", "created_at", "lists"]


class CsvFormatError(Exception):
    """The file as a whole cannot be read as a subscriber CSV; the message tells staff why.

    This is the only exception reading a CSV raises. Problems with single rows are not
    exceptions: they are reported by line and the rest of the file is imported.
    """


@dataclass(frozen=True)
class CsvLayout:
    delimiter: str
    email_column: int
    name_column: int | None
    has_header: bool


# Rows are named tuples rather than frozen dataclasses: a file of 100,000 rows makes 100,000 of
# them, and a frozen dataclass costs several times a tuple to build (#12).
class ParsedRow(NamedTuple):
    line: int
    email: str  # normalised by addresses.email_normalise
    name: str  # cleaned by addresses.name_clean


class RowError(NamedTuple):
    line: int
    email: str  # the cell as it was, cut to MAX_EMAIL_LENGTH
    reason: str


# --- Reading ---------------------------------------------------------------------------------


def csv_text_decode(*, data: bytes) -> str:
    """The text of an uploaded file; raises CsvFormatError if it is not UTF-8 text."""
    if data.startswith(b"PK\x03\x04"):
        raise CsvFormatError(
            "This is a spreadsheet workbook (or another zip file), not a CSV. In Excel use "
            "File → Save As → “CSV UTF-8”; in Google Sheets, File → Download → CSV."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(
            f"This file is not UTF-8 text (the first bad byte is number {exc.start + 1}). "
            "Save it as “CSV UTF-8” and upload it again."
        ) from None
    _text_check(text)
    return text


def _text_check(text: str) -> None:
    # NUL never appears in a text CSV (it means UTF-16 or a binary file), and PostgreSQL cannot
    # store it in a text column.
    if "\x00" in text:
        raise CsvFormatError(
            "This file contains NUL bytes, so it is not a plain-text CSV (perhaps UTF-16 or a "
            "binary file). Save it as “CSV UTF-8” and upload it again."
        )
    if not text.strip():
        raise CsvFormatError("The file is empty.")


def _formula_unguard(cell: str) -> str:
    if len(cell) > 1 and cell[0] == "'" and cell[1:].startswith(FORMULA_PREFIXES):
        return cell[1:]
    return cell


def _reader(text: str, delimiter: str) -> Iterator[list[str]]:
    return csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=delimiter)


def csv_layout_read(*, text: str) -> CsvLayout:
    """Where the addresses (and names) are in `text`; raises CsvFormatError if nowhere."""
    _text_check(text)
    first_line = text.removeprefix("\ufeff").split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=first_line.count)
    try:
        first_row = next(iter(_reader(text, delimiter)), [])
    except csv.Error as exc:
        raise CsvFormatError(f"Line 1 cannot be read as CSV: {exc}.") from None
    header = [cell.strip().lower() for cell in first_row]
    email_column = next((i for i, cell in enumerate(header) if cell in EMAIL_HEADERS), None)
    if email_column is not None:
        name_column = next((i for i, cell in enumerate(header) if cell in NAME_HEADERS), None)
        return CsvLayout(
            delimiter=delimiter,
            email_column=email_column,
            name_column=name_column,
            has_header=True,
        )
    try:
        email_normalise(_formula_unguard(first_row[0]) if first_row else "")
    except ValidationError:
        found = ", ".join(cell for cell in header if cell)[:200] or "nothing"
        raise CsvFormatError(
            "The first row must be a header with an “email” column (and optionally “name”), "
            f"or the file must be a plain list of addresses. The first row has: {found}."
        ) from None
    return CsvLayout(delimiter=delimiter, email_column=0, name_column=None, has_header=False)


def _records(text: str, layout: CsvLayout) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) of every non-blank data row."""
    line = 0
    try:
        for cells in _reader(text, layout.delimiter):
            line += 1
            if (line == 1 and layout.has_header) or not "".join(cells).strip():
                continue
            yield line, cells
    except csv.Error as exc:
        if "field limit" in str(exc):
            reason = f"a cell is longer than {csv.field_size_limit():,} characters"
        else:
            reason = str(exc)
        raise CsvFormatError(f"Line {line + 1} cannot be read as CSV: {reason}.") from None


def csv_rows_count(*, text: str, layout: CsvLayout | None = None) -> int:
    """How many data rows `text` has (blank rows aside); raises CsvFormatError if unreadable."""
    return sum(1 for _ in _records(text, layout or csv_layout_read(text=text)))


def csv_rows_read(*, text: str, layout: CsvLayout | None = None) -> Iterator[ParsedRow | RowError]:
    """Each data row, validated: a ParsedRow holds an address fit to store, a RowError says why not.

    Raises CsvFormatError, and nothing else, when the file as a whole cannot be read.
    """
    layout = layout or csv_layout_read(text=text)
    for line, cells in _records(text, layout):
        raw = cells[layout.email_column] if layout.email_column < len(cells) else ""
        if not raw.strip():
            yield RowError(line=line, email="", reason="No email address in this row.")
            continue
        try:
            email = email_normalise(_formula_unguard(raw))
        except ValidationError as exc:
            yield RowError(line=line, email=raw[:MAX_EMAIL_LENGTH], reason=" ".join(exc.messages))
            continue
        name = ""
        if layout.name_column is not None and layout.name_column < len(cells):
            name = name_clean(_formula_unguard(cells[layout.name_column]))
        yield ParsedRow(line=line, email=email, name=name)


def csv_rows_sample(*, text: str, limit: int = SAMPLE_SIZE) -> list[ParsedRow]:
    """The first `limit` valid rows, to show staff what the file looks like."""
    valid = (row for row in csv_rows_read(text=text) if isinstance(row, ParsedRow))
    return list(itertools.islice(valid, limit))


# --- Exporting -------------------------------------------------------------------------------


class _Line:
    """A file-like object that hands back what csv.writer writes, one row at a time."""

    def write(self, value: str) -> str:
        return value


def csv_cell_guard(value: str) -> str:
    """`value` made inert in a spreadsheet: a cell starting like a formula gets a leading quote."""
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value


def subscribers_csv_export(*, queryset: QuerySet[Subscriber]) -> Iterator[str]:
    """The CSV of `queryset`, a row at a time (for streaming), safe to open in a spreadsheet.

    Columns: email, name, created_at, lists (`slug:state` joined by semicolons).
    """
    writer = csv.writer(_Line())
    # The byte-order mark makes Excel read the file as UTF-8; the import accepts it.
    yield "\ufeff" + str(writer.writerow(EXPORT_COLUMNS))
    with_lists = queryset.prefetch_related(None).prefetch_related(
        Prefetch(
            "subscriptions",
            queryset=Subscription.objects.select_related("mailing_list").order_by(
                "mailing_list__slug"
            ),
        )
    )
    for subscriber in with_lists.iterator(chunk_size=2000):
        lists = ";".join(f"{s.mailing_list.slug}:{s.state}" for s in subscriber.subscriptions.all())
        cells = [subscriber.email, subscriber.name, _iso(subscriber.created_at), lists]
        yield str(writer.writerow([csv_cell_guard(cell) for cell in cells]))


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""
