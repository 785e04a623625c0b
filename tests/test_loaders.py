"""Each file type a user may drop in, and each way a file can be bad."""

from __future__ import annotations

import pytest

from ingest.loaders import load
from ivl_index.errors import IngestError
from tests.conftest import CORPUS


def test_corpus_markdown_keeps_front_matter_and_sections():
    doc = load(CORPUS / "zhao-tian-2026.md")
    assert doc.source_id == "zhao-tian-2026"
    assert doc.meta["url"] == "https://doi.org/10.3892/etm.2026.13183"
    names = [s.name for s in doc.sections]
    assert names[:6] == ["Source details", "Abstract", "Introduction", "Case report", "Discussion", "Figures"]
    assert not next(s for s in doc.sections if s.name == "References").indexed
    gard = load(CORPUS / "gard-ivl.md")
    assert [s.name for s in gard.sections if s.indexed] == ["Source details", "Summary", "Signs and symptoms", "Treatment"]


def test_plain_text(tmp_path):
    path = tmp_path / "New Report.txt"
    path.write_text("IVL grew into the heart. It was removed.", encoding="utf-8")
    doc = load(path)
    assert doc.source_id == "new-report"
    assert doc.text[doc.sections[0].start : doc.sections[0].end] == "IVL grew into the heart. It was removed."


def test_html_sections_and_no_script(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>IVL page</title><script>alert(1)</script></head><body><nav>Home</nav>"
        "<h2>Summary</h2><p>IVL is a benign tumor.</p><h2>Treatment</h2><p>Surgery is the mainstay.</p></body></html>",
        encoding="utf-8",
    )
    doc = load(path)
    assert doc.title == "IVL page"
    assert [(s.name, doc.text[s.start : s.end]) for s in doc.sections] == [
        ("Summary", "IVL is a benign tumor."),
        ("Treatment", "Surgery is the mainstay."),
    ]
    assert "alert" not in doc.text and "Home" not in doc.text


def make_pdf(path, pages):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    pdf.output(str(path))
    return path


def test_pdf_pages_become_sections(tmp_path):
    path = make_pdf(tmp_path / "next-case.pdf", ["A 52-year-old woman had IVL.", "The tumor reached the heart."])
    doc = load(path)
    assert [s.name for s in doc.sections] == ["Page 1", "Page 2"]
    assert "reached the heart" in doc.text


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog", "unreadable PDF"),
        ("empty.pdf", b"", "unreadable PDF"),
        ("binary.md", bytes(range(256)) * 4, "looks binary"),
        ("latin1.txt", "Ovarian tumour \xe9tude".encode("latin-1"), "not UTF-8"),
        ("notes.docx", b"PK\x03\x04", "unsupported file type"),
        ("blank.txt", b"   \n\n", "no text to index"),
    ],
)
def test_bad_files_name_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError) as err:
        load(path)
    assert name in str(err.value) and message in str(err.value)


def test_encrypted_pdf(tmp_path):
    from pypdf import PdfReader, PdfWriter

    plain = make_pdf(tmp_path / "plain.pdf", ["Secret IVL text."])
    writer = PdfWriter()
    for page in PdfReader(plain).pages:
        writer.add_page(page)
    writer.encrypt("owner-and-user-password")
    with open(tmp_path / "locked.pdf", "wb") as fh:
        writer.write(fh)
    with pytest.raises(IngestError, match="locked.pdf: PDF is encrypted"):
        load(tmp_path / "locked.pdf")


def test_very_large_pdf_is_refused_by_size(tmp_path):
    path = make_pdf(tmp_path / "huge.pdf", ["Intravenous leiomyomatosis. " * 400] * 60)
    assert path.stat().st_size > 100_000
    with pytest.raises(IngestError, match="huge.pdf: larger than IVL_MAX_FILE_MB"):
        load(path, max_mb=0.1)
    assert load(path).sections  # within the default limit it loads
