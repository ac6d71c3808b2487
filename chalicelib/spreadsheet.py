"""Text cells a spreadsheet shows as text: what every CSV this project writes goes through.

Excel, LibreOffice and Google Sheets run a CSV cell that starts with ``=``, ``+``, ``-`` or
``@`` (and tab or carriage return, which they skip first) as a formula: a cell holding an
object key or an id a user chose could open links or run commands (CSV injection, OWASP).
Such cells get a leading ``'``, which the spreadsheet shows as text.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defused(cell: str) -> str:
    """A text cell a spreadsheet shows as text: formula starts get a leading ``'``.

    >>> defused("=1+1"), defused("A-1")
    ("'=1+1", 'A-1')
    """
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: None empty, text defused, numbers as they are.

    >>> csv_cell(None), csv_cell(-3), csv_cell("-3")
    ('', -3, "'-3")
    """
    if value is None:
        return ""
    return defused(value) if isinstance(value, str) else value
