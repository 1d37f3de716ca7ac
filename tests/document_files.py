"""Real files of every document format, written by each format's own library (test helpers)."""

from __future__ import annotations

from pathlib import Path


def make_pdf(path: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 16)
    pdf.cell(0, 10, "Installing the pump", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, "Mount the pump on a level base. Tighten the four bolts to 25 Nm before filling.")
    pdf.add_page()
    pdf.set_font("helvetica", "B", 16)
    pdf.cell(0, 10, "Maintenance", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, "Replace the seal every 2000 hours. Check the oil level weekly.")
    pdf.output(str(path))
    return path


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Travel policy", level=1)
    document.add_paragraph("Employees book economy class for flights under six hours.")
    document.add_heading("Hotels", level=2)
    document.add_paragraph("The nightly limit depends on the city.")
    table = document.add_table(rows=3, cols=2)
    values = [("City", "Limit"), ("Paris", "180 EUR"), ("Tokyo", "22000 JPY")]
    for row, (city, limit) in zip(table.rows, values, strict=True):
        row.cells[0].text, row.cells[1].text = city, limit
    document.save(str(path))
    return path


def make_pptx(path: Path) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Quarterly results"
    slide.placeholders[1].text = "Revenue grew 12 percent on the year."
    second = deck.slides.add_slide(deck.slide_layouts[5])
    second.shapes.title.text = "Regions"
    shape = second.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1))
    shape.table.cell(0, 0).text, shape.table.cell(0, 1).text = "Region", "Growth"
    shape.table.cell(1, 0).text, shape.table.cell(1, 1).text = "Europe", "9%"
    deck.save(str(path))
    return path


def make_xlsx(path: Path) -> Path:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Prices"
    for row in [("Item", "Price"), ("Espresso", 2.5), ("Cappuccino", 3.2)]:
        sheet.append(row)
    other = workbook.create_sheet("Staff")
    other.append(("Name", "Role"))
    other.append(("Ada", "Barista"))
    workbook.save(str(path))
    return path


def make_epub(path: Path) -> Path:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("id-1")
    book.set_title("Coffee")
    book.set_language("en")
    chapters = []
    for number, (title, text) in enumerate(
        [("Beans", "Arabica beans grow at high altitude."), ("Roasting", "A dark roast tastes bitter.")], start=1
    ):
        chapter = epub.EpubHtml(title=title, file_name=f"c{number}.xhtml", lang="en")
        chapter.content = f"<html><body><h1>{title}</h1><p>{text}</p></body></html>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.spine = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    epub.write_epub(str(path), book)
    return path


HTML = """<html><head><style>p{color:red}</style><script>var x=1;</script></head><body>
<nav>Home | About</nav><h1>Espresso guide</h1><p>Grind the beans fine.</p>
<h2>Milk</h2><ul><li>Steam to 60 degrees.</li><li>Pour slowly.</li></ul>
<table><tr><th>Drink</th><th>Milk</th></tr><tr><td>Latte</td><td>200 ml</td></tr></table></body></html>"""
