"""Real files of every format, written by each format's own library: text, headings, tables and
page numbers come out right; broken, encrypted, empty and huge files are refused with a reason."""

from __future__ import annotations

import pytest

pytest.importorskip("pypdf", reason="the documents extra is not installed")

from document_files import HTML, make_docx, make_epub, make_pdf, make_pptx, make_xlsx
from rag_core.loaders import (
    UnreadableFileError,
    _formats,
    approximate_tokens,
    chunk_sections,
    read_file,
)


def test_pdf_pages_and_headings(tmp_path):
    sections = read_file(make_pdf(tmp_path / "pump.pdf"))
    texts = {s.text: s for s in sections}
    body = next(s for s in sections if "25 Nm" in s.text)
    assert body.page == 1 and body.headings == ("Installing the pump",)
    seal = next(s for s in sections if "2000 hours" in s.text)
    assert seal.page == 2 and seal.headings == ("Maintenance",)
    assert "Maintenance" in texts and texts["Maintenance"].kind == "heading"


def test_docx_heading_path_and_table(tmp_path):
    sections = read_file(make_docx(tmp_path / "policy.docx"))
    table = next(s for s in sections if s.kind == "table")
    assert table.text.splitlines() == ["City | Limit", "Paris | 180 EUR", "Tokyo | 22000 JPY"]
    assert table.headings == ("Travel policy", "Hotels")
    economy = next(s for s in sections if "economy" in s.text)
    assert economy.headings == ("Travel policy",)


def test_pptx_slides_are_pages(tmp_path):
    sections = read_file(make_pptx(tmp_path / "results.pptx"))
    growth = next(s for s in sections if "12 percent" in s.text)
    assert growth.page == 1 and growth.headings == ("Quarterly results",)
    table = next(s for s in sections if s.kind == "table")
    assert table.page == 2 and "Europe | 9%" in table.text


def test_xlsx_sheets_and_csv(tmp_path):
    sections = read_file(make_xlsx(tmp_path / "menu.xlsx"))
    prices = next(s for s in sections if s.kind == "table" and "Espresso" in s.text)
    assert prices.page == 1 and prices.text.splitlines()[0] == "Item | Price" and "Espresso | 2.5" in prices.text
    assert any(s.page == 2 and "Ada | Barista" in s.text for s in sections)
    csv_path = tmp_path / "menu.csv"
    csv_path.write_text("item;price\nmocha;3.9\n")
    assert read_file(csv_path)[0].text == "item | price\nmocha | 3.9"


def test_html_keeps_structure_and_drops_scripts(tmp_path):
    path = tmp_path / "guide.html"
    path.write_text(HTML)
    sections = read_file(path)
    joined = "\n".join(s.text for s in sections)
    assert "var x" not in joined and "color:red" not in joined and "Home | About" not in joined
    assert [s.text for s in sections if s.kind == "list"] == ["Steam to 60 degrees.", "Pour slowly."]
    assert next(s for s in sections if s.kind == "list").headings == ("Espresso guide", "Milk")
    assert any(s.kind == "table" and "Latte | 200 ml" in s.text for s in sections)


def test_epub_chapters_in_order(tmp_path):
    sections = read_file(make_epub(tmp_path / "coffee.epub"))
    beans = next(s for s in sections if "altitude" in s.text)
    roast = next(s for s in sections if "bitter" in s.text)
    assert (beans.page, roast.page) == (1, 2) and roast.headings == ("Roasting",)


def test_broken_encrypted_empty_and_huge_files_are_refused_with_a_reason(tmp_path, monkeypatch):
    import pypdf

    good = make_pdf(tmp_path / "good.pdf")
    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes(good.read_bytes()[:300])
    with pytest.raises(UnreadableFileError, match="PDF"):
        read_file(corrupt)
    writer = pypdf.PdfWriter(clone_from=str(good))
    writer.encrypt(user_password="secret", owner_password="owner")
    locked = tmp_path / "locked.pdf"
    with locked.open("wb") as handle:
        writer.write(handle)
    with pytest.raises(UnreadableFileError, match="encrypted"):
        read_file(locked)
    empty = tmp_path / "empty.docx"
    empty.write_bytes(b"")
    with pytest.raises(UnreadableFileError, match="empty"):
        read_file(empty)
    monkeypatch.setattr(_formats, "MAX_FILE_BYTES", 100)
    with pytest.raises(UnreadableFileError, match="limit"):
        read_file(good)


def test_chunks_respect_the_token_budget_and_carry_their_origin(tmp_path):
    text = "# Guide\n\n" + " ".join(f"Sentence number {i} about pumps." for i in range(60)) + "\n\n## Other\n\nShort."
    path = tmp_path / "guide.md"
    path.write_text(text)
    chunks = chunk_sections(read_file(path), max_tokens=40, overlap_tokens=8)
    assert len(chunks) > 3 and all(approximate_tokens(c.text) <= 40 for c in chunks)
    assert chunks[0].headings == ("Guide",) and chunks[-1].headings == ("Guide", "Other")
    assert chunks[-1].text == "Short."
    first, second = chunks[0].text, chunks[1].text
    assert first.split()[-1] in second.split()[:8]  # the overlap carries the end of one chunk into the next
    extracted = "\n\n".join(s.text for s in read_file(path))
    for chunk in chunks:  # character offsets point into the extracted text
        assert extracted[chunk.start : chunk.end].split()[:3] == chunk.text.split()[:3] or chunk.start == 0
