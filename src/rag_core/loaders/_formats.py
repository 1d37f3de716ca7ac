"""Reading files into structured text: each format becomes a list of :class:`Section`s (a heading,
a paragraph, a table rendered as text, a list) that keep their page and heading path.

One small, well-kept library per format, chosen for install weight and for keeping structure:

* PDF: ``pypdf`` (pure Python; page by page, so every section knows its page). Encrypted files
  and files that do not parse are refused with the reason.
* HTML: ``beautifulsoup4`` (headings ``h1``-``h6``, paragraphs, lists, tables as rows of cells).
* DOCX: ``python-docx`` (heading styles give the heading path; tables as rows).
* PPTX: ``python-pptx`` (one page per slide; the slide title is the heading).
* XLSX: ``openpyxl`` (one page per sheet, rows as ``a | b | c`` lines); CSV with the standard library.
* EPUB: ``ebooklib`` (chapters in spine order, each parsed as HTML; a page per chapter).
* TXT and Markdown as before (Markdown ``#`` headings make the heading path).

They live in the ``documents`` extra (``pip install 'rag-rerank[documents]'``); a missing one is
a clear :class:`UnreadableFileError` naming the extra. Compared: ``markitdown`` converts all of
these through one call but drops PDF page boundaries and pulls pandas and more; ``docling`` and
``unstructured`` extract better layouts but need layout models from a hub and gigabytes of
dependencies; ``pdfminer.six`` extracts PDF text a little better than ``pypdf`` at 3x the time.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag_core._errors import RagRerankError

__all__ = [
    "READERS",
    "Section",
    "UnreadableFileError",
    "read_file",
    "supported_suffixes",
]

#: Files larger than this are refused (by name, with the reason) rather than read into memory.
MAX_FILE_BYTES = 200 * 2**20


class UnreadableFileError(RagRerankError):
    """A file could not be turned into text: encrypted, corrupt, empty, too large, or a format
    whose reader is not installed. The ingest reports it by name and goes on with the others."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass
class Section:
    """A structural unit of a file's text."""

    text: str
    kind: str = "paragraph"  # heading | paragraph | table | list
    page: int | None = None
    headings: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


class _Outline:
    """The heading path as headings of each level arrive."""

    def __init__(self) -> None:
        self.levels: list[tuple[int, str]] = []

    def enter(self, level: int, title: str) -> tuple[str, ...]:
        self.levels = [(lvl, t) for lvl, t in self.levels if lvl < level] + [(level, title)]
        return self.path

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(t for _, t in self.levels)


def _need(module: str, path: Path) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UnreadableFileError(
            path, f"reading {path.suffix} files needs {exc.name}: pip install 'rag-rerank[documents]'"
        ) from exc


def _clean(text: str) -> str:
    return re.sub(r"[ \t\u00a0]+", " ", text.replace("\r", "")).strip()


# -- plain text ---------------------------------------------------------------------------------
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


def read_text(path: Path) -> list[Section]:
    text = path.read_text(encoding="utf-8", errors="replace")
    sections: list[Section] = []
    outline = _Outline()
    markdown = path.suffix.lower() in (".md", ".markdown")
    for raw in re.split(r"\n\s*\n", text):
        block = raw.strip()
        if not block:
            continue
        heading = _MD_HEADING.match(block) if markdown else None
        if heading and "\n" not in block:
            title = heading.group(2).strip()
            sections.append(Section(title, "heading", headings=outline.enter(len(heading.group(1)), title)))
            continue
        sections.append(Section(block, "paragraph", headings=outline.path))
    return sections


# -- PDF ------------------------------------------------------------------------------------------
def read_pdf(path: Path) -> list[Section]:
    pypdf = _need("pypdf", path)
    try:
        reader = pypdf.PdfReader(str(path), strict=False)
        encrypted = reader.is_encrypted
    except Exception as exc:
        raise UnreadableFileError(path, f"not a readable PDF ({type(exc).__name__}: {exc})") from exc
    if encrypted:
        try:  # an empty user password (owner-only protection) still opens
            if not reader.decrypt(""):
                raise UnreadableFileError(path, "encrypted PDF (a password is needed)")
        except UnreadableFileError:
            raise
        except Exception as exc:
            raise UnreadableFileError(path, f"encrypted PDF ({type(exc).__name__}: {exc})") from exc
    sections: list[Section] = []
    outline = _Outline()
    try:
        pages = list(reader.pages)
    except Exception as exc:
        raise UnreadableFileError(path, f"corrupt PDF ({type(exc).__name__}: {exc})") from exc
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as exc:
            raise UnreadableFileError(path, f"corrupt page {number} ({type(exc).__name__}: {exc})") from exc
        lines = [_clean(line) for line in text.split("\n")]
        paragraph: list[str] = []

        def close(paragraph: list[str], page: int = number) -> None:
            if paragraph:
                sections.append(Section(" ".join(paragraph), "paragraph", page, outline.path))
                paragraph.clear()

        for i, line in enumerate(lines):
            if not line:
                close(paragraph)
                continue
            following = next((x for x in lines[i + 1 :] if x), "")
            # a short unpunctuated line that starts a block (and is not the end of a sentence
            # wrapped onto it) before longer text is a heading
            if not paragraph and _looks_like_heading(line) and following and len(following) >= len(line):
                sections.append(Section(line, "heading", number, outline.enter(1, line)))
                continue
            paragraph.append(line)
            if line.endswith((".", "!", "?", ":")) and len(line) < 60:  # a short closing line ends a paragraph
                close(paragraph)
        close(paragraph)
    return sections


def _looks_like_heading(line: str) -> bool:
    """A short line without final punctuation, starting with a capital or a number."""
    return len(line) <= 80 and not line.endswith((".", ",", ";", ":")) and bool(re.match(r"[A-Z0-9]", line))


# -- HTML and EPUB ----------------------------------------------------------------------------------
def _html_sections(markup: str, path: Path, page: int | None = None, outline: _Outline | None = None) -> list[Section]:
    bs4 = _need("bs4", path)
    soup = bs4.BeautifulSoup(markup, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "nav", "footer"]):
        tag.decompose()
    outline = outline or _Outline()
    sections: list[Section] = []
    body = soup.body or soup
    for element in body.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "table", "pre", "blockquote"]):
        if element.find_parent(["table", "li"]) is not None and element.name != "table":
            continue  # cells and nested items are written with their table or list item
        if element.name == "table":
            rows = []
            for row in element.find_all("tr"):
                cells = [_clean(c.get_text(" ")) for c in row.find_all(["th", "td"])]
                if any(cells):
                    rows.append(" | ".join(cells))
            if rows:
                sections.append(Section("\n".join(rows), "table", page, outline.path))
            continue
        text = _clean(element.get_text(" "))
        if not text:
            continue
        if element.name in ("h1", "h2", "h3", "h4", "h5", "h6"):
            sections.append(Section(text, "heading", page, outline.enter(int(element.name[1]), text)))
        else:
            kind = "list" if element.name == "li" else "paragraph"
            sections.append(Section(text, kind, page, outline.path))
    if not sections:  # markup without block elements: its text
        text = _clean(body.get_text(" "))
        if text:
            sections.append(Section(text, "paragraph", page))
    return sections


def read_html(path: Path) -> list[Section]:
    return _html_sections(path.read_text(encoding="utf-8", errors="replace"), path)


def read_epub(path: Path) -> list[Section]:
    ebooklib = _need("ebooklib", path)
    epub = _need("ebooklib.epub", path)
    try:
        book = epub.read_epub(str(path), options={"ignore_ncx": True})
    except Exception as exc:
        raise UnreadableFileError(path, f"not a readable EPUB ({type(exc).__name__}: {exc})") from exc
    sections: list[Section] = []
    outline = _Outline()
    chapter = 0
    for item_id, _ in book.spine:
        item = book.get_item_with_id(item_id)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
            continue
        chapter += 1
        sections.extend(_html_sections(item.get_content().decode("utf-8", "replace"), path, chapter, outline))
    return sections


# -- Office -----------------------------------------------------------------------------------------
def read_docx(path: Path) -> list[Section]:
    docx = _need("docx", path)
    try:
        document = docx.Document(str(path))
    except Exception as exc:
        raise UnreadableFileError(path, f"not a readable DOCX ({type(exc).__name__}: {exc})") from exc
    sections: list[Section] = []
    outline = _Outline()
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = docx.text.paragraph.Paragraph(child, document)
            text = _clean(paragraph.text)
            if not text:
                continue
            style = (paragraph.style.name if paragraph.style is not None else "") or ""
            level = re.match(r"(?:Heading|Title)\s*(\d?)", style)
            if level:
                depth = int(level.group(1)) if level.group(1) else 1
                sections.append(Section(text, "heading", headings=outline.enter(depth, text)))
            else:
                kind = "list" if "List" in style else "paragraph"
                sections.append(Section(text, kind, headings=outline.path))
        elif tag == "tbl":
            table = docx.table.Table(child, document)
            rows = [" | ".join(_clean(cell.text) for cell in row.cells) for row in table.rows]
            rows = [r for r in rows if r.strip(" |")]
            if rows:
                sections.append(Section("\n".join(rows), "table", headings=outline.path))
    return sections


def read_pptx(path: Path) -> list[Section]:
    pptx = _need("pptx", path)
    try:
        deck = pptx.Presentation(str(path))
    except Exception as exc:
        raise UnreadableFileError(path, f"not a readable PPTX ({type(exc).__name__}: {exc})") from exc
    sections: list[Section] = []
    for number, slide in enumerate(deck.slides, start=1):
        title_shape = slide.shapes.title
        title = _clean(title_shape.text) if title_shape is not None and title_shape.has_text_frame else ""
        path_ = (title,) if title else ()
        if title:
            sections.append(Section(title, "heading", number, path_))
        for shape in slide.shapes:
            if shape is title_shape:
                continue
            if getattr(shape, "has_table", False) and shape.has_table:
                rows = [" | ".join(_clean(c.text) for c in row.cells) for row in shape.table.rows]
                sections.append(Section("\n".join(r for r in rows if r.strip(" |")), "table", number, path_))
            elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
                for paragraph in shape.text_frame.paragraphs:
                    text = _clean("".join(run.text for run in paragraph.runs))
                    if text:
                        sections.append(Section(text, "paragraph", number, path_))
        if slide.has_notes_slide:
            notes = _clean(slide.notes_slide.notes_text_frame.text)
            if notes:
                sections.append(Section(notes, "paragraph", number, path_, {"notes": True}))
    return sections


def read_xlsx(path: Path) -> list[Section]:
    openpyxl = _need("openpyxl", path)
    try:
        workbook = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    except Exception as exc:
        raise UnreadableFileError(path, f"not a readable XLSX ({type(exc).__name__}: {exc})") from exc
    sections: list[Section] = []
    for number, sheet in enumerate(workbook.worksheets, start=1):
        rows = []
        for row in sheet.iter_rows(values_only=True):
            cells = ["" if v is None else _clean(str(v)) for v in row]
            if any(cells):
                rows.append(" | ".join(cells))
        if rows:
            sections.append(Section(sheet.title, "heading", number, (sheet.title,)))
            sections.extend(_table_blocks(rows, number, (sheet.title,)))
    workbook.close()
    return sections


def _table_blocks(rows: list[str], page: int | None, headings: tuple[str, ...], size: int = 40) -> Iterator[Section]:
    """A long table as blocks of rows, each repeating the header row (chunks stay readable)."""
    header, body = rows[0], rows[1:]
    if not body:
        yield Section(header, "table", page, headings)
        return
    for start in range(0, len(body), size):
        yield Section("\n".join([header, *body[start : start + size]]), "table", page, headings)


def read_csv(path: Path) -> list[Section]:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = [" | ".join(_clean(c) for c in row) for row in csv.reader(io.StringIO(text), dialect)]
    rows = [r for r in rows if r.strip(" |")]
    return list(_table_blocks(rows, None, (path.stem,))) if rows else []


READERS: dict[str, Callable[[Path], list[Section]]] = {
    ".txt": read_text,
    ".md": read_text,
    ".markdown": read_text,
    ".pdf": read_pdf,
    ".html": read_html,
    ".htm": read_html,
    ".docx": read_docx,
    ".pptx": read_pptx,
    ".xlsx": read_xlsx,
    ".csv": read_csv,
    ".epub": read_epub,
}


def supported_suffixes() -> tuple[str, ...]:
    return (*READERS, ".jsonl")


def read_file(path: str | Path, *, max_bytes: int | None = None) -> list[Section]:
    """The sections of a file; raises :class:`UnreadableFileError` with the reason otherwise.
    ``max_bytes`` defaults to :data:`MAX_FILE_BYTES`."""
    path = Path(path)
    max_bytes = MAX_FILE_BYTES if max_bytes is None else max_bytes
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UnreadableFileError(path, f"unsupported file type {path.suffix or '(none)'}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadableFileError(path, f"cannot be read ({exc.strerror})") from exc
    if size == 0:
        raise UnreadableFileError(path, "empty file")
    if size > max_bytes:
        raise UnreadableFileError(path, f"{size / 2**20:.0f} MB, over the {max_bytes / 2**20:.0f} MB limit")
    try:
        sections = reader(path)
    except UnreadableFileError:
        raise
    except (OSError, UnicodeError) as exc:
        raise UnreadableFileError(path, f"cannot be read ({type(exc).__name__}: {exc})") from exc
    if not any(s.text.strip() for s in sections):
        raise UnreadableFileError(path, "no text found (a scanned PDF needs OCR, which is not included)")
    return sections
