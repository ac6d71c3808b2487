"""A minimal XLSX writer: sheets of rows as an Office Open XML workbook, standard library only.

Enough for tables of numbers and text that Excel, LibreOffice and pandas
(openpyxl) open: inline strings, numbers, a bold header row, no styles beyond
that. Pure: rows in, bytes out.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any
from xml.sax.saxutils import escape

Cell = str | int | float | None

_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml"
 ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/styles.xml"
 ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>
{sheets}
</Types>"""
_SHEET_TYPE = (
    '<Override PartName="/xl/worksheets/sheet{n}.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
)
_ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Target="xl/workbook.xml"
 Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>
</Relationships>"""
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL_NS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
_STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet {_NS}>
<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>
<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="2"><fill><patternFill patternType="none"/></fill>
<fill><patternFill patternType="gray125"/></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>"""
_INVALID_XML = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32)])


def column_name(index: int) -> str:
    """0 → ``A``, 25 → ``Z``, 26 → ``AA``.

    >>> [column_name(i) for i in (0, 25, 26, 701, 702)]
    ['A', 'Z', 'AA', 'ZZ', 'AAA']
    """
    name = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        name = chr(65 + remainder) + name
    return name


def _sheet_name(name: str, used: set[str]) -> str:
    """Excel's rules: ≤ 31 characters, none of ``[]:*?/\\``, unique."""
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in name).strip("'")[:31] or "Sheet"
    candidate, n = clean, 2
    while candidate.lower() in used:
        candidate = f"{clean[:28]}~{n}"
        n += 1
    used.add(candidate.lower())
    return candidate


def _cell(reference: str, value: Cell, style: int) -> str:
    s = f' s="{style}"' if style else ""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        value = "yes" if value else "no"
    if isinstance(value, int | float) and math.isfinite(value):
        return f'<c r="{reference}"{s}><v>{value!r}</v></c>'
    text = escape(str(value).translate(_INVALID_XML))
    return f'<c r="{reference}"{s} t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _sheet_xml(rows: Iterable[Sequence[Cell]], header: bool) -> str:
    lines = [f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet {_NS}>']
    lines.append("<sheetData>")
    for r, row in enumerate(rows, start=1):
        style = 1 if header and r == 1 else 0
        cells = "".join(_cell(f"{column_name(c)}{r}", v, style) for c, v in enumerate(row))
        lines.append(f'<row r="{r}">{cells}</row>')
    lines.append("</sheetData></worksheet>")
    return "\n".join(lines)


def workbook(sheets: Sequence[tuple[str, Iterable[Sequence[Cell]]]], header: bool = True) -> bytes:
    """An ``.xlsx`` file of named sheets; each sheet's first row is bold when ``header``.

    >>> data = workbook([("Wells", [["well", "count"], ["A01", 12]])])
    >>> data[:2], zipfile.ZipFile(io.BytesIO(data)).namelist()[0]
    (b'PK', '[Content_Types].xml')
    """
    if not sheets:
        raise ValueError("a workbook needs at least one sheet")
    used: set[str] = set()
    names = [_sheet_name(name, used) for name, _ in sheets]
    entries = "".join(
        f'<sheet name="{escape(name, {chr(34): "&quot;"})}" sheetId="{n}" r:id="rId{n}"/>'
        for n, name in enumerate(names, start=1)
    )
    rels = "".join(
        f'<Relationship Id="rId{n}" Target="worksheets/sheet{n}.xml" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/>'
        for n in range(1, len(sheets) + 1)
    )
    styles_id = len(sheets) + 1
    rels += (
        f'<Relationship Id="rId{styles_id}" Target="styles.xml" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles"/>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        overrides = "".join(_SHEET_TYPE.format(n=n) for n in range(1, len(sheets) + 1))
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES.format(sheets=overrides))
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f"<workbook {_NS} {_REL_NS}><sheets>{entries}</sheets></workbook>",
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships '
            f'xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}'
            "</Relationships>",
        )
        archive.writestr("xl/styles.xml", _STYLES)
        for n, (_, rows) in enumerate(sheets, start=1):
            archive.writestr(f"xl/worksheets/sheet{n}.xml", _sheet_xml(rows, header))
    return buffer.getvalue()


def table(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> list[list[Cell]]:
    """Dict rows as a header row plus value rows, in ``columns`` order."""
    return [list(columns), *([row.get(c) for c in columns] for row in rows)]
