"""Read Markdown with front matter, plain text, HTML and PDF into SourceDocument.

Every failure is an IngestError naming the file, raised before anything touches the index. Control characters
(NUL and the other C0 and C1 codes but tab and line ends) are stripped from every file's text as it is read, so
none reaches a chunk, a quote or a title: a NUL after the first 8 KB (where a binary file is looked for) used to.
"""

from __future__ import annotations

import re
from pathlib import Path

import frontmatter
import yaml
from frontmatter.default_handlers import YAMLHandler

from ivl_index.documents import Section, SourceDocument
from ivl_index.errors import IngestError
from ivl_index.settings import KERNEL_FOLDERS

SUPPORTED = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html", ".pdf": "pdf"}


# Tab, line feed and carriage return stay; vertical tab, form feed (PDF page breaks) and NEL become line feeds, so
# the words either side stay apart; every other C0 and C1 control character (and DEL) goes.
_CONTROLS = {c: None for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if chr(c) not in "\t\n\r"} | {
    0x0B: "\n", 0x0C: "\n", 0x85: "\n"
}


FRONT_MATTER_MAX = 64_000  # characters: the corpus's longest is under 2,000
FRONT_MATTER_DEPTH = 20  # levels of nested lists and mappings: the corpus uses 2; 2,000 overflowed Python's stack
HTML_ELEMENTS_PER_SENTENCE = 10  # a real article page has a few tags per sentence; each costs ~3 KB parsed
TEXT_FIELDS = ("source_id", "title", "publisher", "date", "url", "licence", "evidence")  # shown as one line each
LIST_FIELDS = ("authors", "unindexed_sections")  # lists of names


class _NoAliases(yaml.SafeLoader):
    """YAML without aliases (a 492-byte alias bomb as a title expanded to 5.9 GB, issue 24 item 11) and nested
    no deeper than FRONT_MATTER_DEPTH."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("aliases (*name) are not allowed in front matter")
        self.depth = getattr(self, "depth", 0) + 1
        try:
            if self.depth > FRONT_MATTER_DEPTH:
                raise yaml.YAMLError(f"nested more than {FRONT_MATTER_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _FrontMatter(YAMLHandler):
    """python-frontmatter's YAML handler, bounded in size and depth, without aliases, and with an impossible
    date (2024-02-30) a YAML error like any other rather than the ValueError PyYAML raises."""

    def load(self, fm: str, **kwargs):
        if len(fm) > FRONT_MATTER_MAX:
            raise yaml.YAMLError(f"longer than {FRONT_MATTER_MAX:,} characters")
        try:
            return yaml.load(fm, Loader=_NoAliases)  # noqa: S506 -- a SafeLoader subclass
        except ValueError as err:
            raise yaml.YAMLError(f"a value that cannot be read, such as an impossible date: {err}") from None


def _checked_meta(path: Path, meta: dict) -> dict:
    """Front matter whose fields have the shapes the index stores: one line of text, or a list of names."""
    for key in TEXT_FIELDS:
        if isinstance(meta.get(key), (list, dict)):
            raise IngestError(f"{path}: front matter {key!r} must be one line of text, not a list or mapping")
    for key in LIST_FIELDS:
        value = meta.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise IngestError(f"{path}: front matter {key!r} must be a list of names, e.g. {key}: [References]")
    return meta


def clean(text: str) -> str:
    """Text without control characters."""
    return text.translate(_CONTROLS)


def discover(paths: list[Path]) -> list[Path]:
    """Files to ingest: each file given, and every supported file under each folder (README.md excluded). A link
    in a folder that leads out of it is refused, named (a link to the system's password file was indexed and
    served); a file given by name is read wherever it is."""
    found: list[Path] = []
    for path in paths:
        if any(path.resolve().is_relative_to(k) for k in KERNEL_FOLDERS):
            raise IngestError(f"{path}: a kernel pseudo-filesystem, not documents; give the folder of your documents")
        if path.is_dir():
            try:
                inside = sorted(
                    p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED and p.name != "README.md"
                )
            except OSError as err:
                raise IngestError(f"{path}: cannot list the folder ({err.strerror or err}: {err.filename})") from None
            root = path.resolve()
            outside = [p for p in inside if not p.resolve().is_relative_to(root)]
            if outside:
                named = ", ".join(f"{p} -> {p.resolve()}" for p in outside)
                raise IngestError(f"links out of {path} are not followed: {named}; give the file itself to ingest it")
            found += inside
        elif path.is_file():
            found.append(path)
        elif path.exists():
            raise IngestError(f"{path}: not a regular file (a pipe, device or socket); give a file or a folder")
        else:
            raise IngestError(f"{path}: no such file or folder")
    return found


def load(path: Path, max_mb: float = 50, max_sentences: int = 20_000) -> SourceDocument:
    """The document at `path`; `max_sentences` bounds what an HTML file may hold before it is parsed."""
    kind = SUPPORTED.get(path.suffix.lower())
    if kind is None:
        raise IngestError(f"{path}: unsupported file type {path.suffix or '(none)'}; use one of {', '.join(SUPPORTED)}")
    try:
        if path.stat().st_size > max_mb * 1_000_000:
            raise IngestError(f"{path}: larger than IVL_MAX_FILE_MB ({max_mb:g} MB); split it or raise the limit")
        if kind == "html":
            doc = _html(path, max_sentences)
        else:
            doc = {"markdown": _markdown, "text": _text, "pdf": _pdf}[kind](path)
    except IngestError:
        raise
    except OSError as err:
        raise IngestError(f"{path}: cannot read it ({err.strerror or err})") from None
    if not any(s.indexed and doc.text[s.start : s.end].strip() for s in doc.sections):
        raise IngestError(f"{path}: no text to index (empty, or a scanned PDF without a text layer)")
    return doc


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise IngestError(f"{path}: looks binary, not {path.suffix} text")
    try:
        return clean(data.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise IngestError(f"{path}: not UTF-8 text (byte {err.start}); re-save it as UTF-8") from None


def _slug(path: Path) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "document"


HEADING = re.compile(r"(?m)^(#{2,3}) +(.+?)\s*$")


def _markdown(path: Path) -> SourceDocument:
    text = _read_text(path)
    try:
        post = frontmatter.loads(text, handler=_FrontMatter())
    except yaml.YAMLError as err:
        raise IngestError(f"{path}: front matter is not valid YAML ({err})") from None
    meta = _checked_meta(path, dict(post.metadata))
    body_start = text.find(post.content[:200]) if post.content else len(text)
    unindexed = set(meta.get("unindexed_sections") or [])
    sections: list[Section] = []
    headings = list(HEADING.finditer(text, body_start))
    first = headings[0].start() if headings else len(text)
    intro = re.match(r"\s*(?:# .*\n)?\s*", text[body_start:first])  # the "# Title" line is not a section
    if body_start + intro.end() < first:
        sections.append(Section("Text", body_start + intro.end(), first))
    for i, h in enumerate(headings):
        end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
        name = h.group(2)
        sections.append(Section(name, h.end(), end, name not in unindexed))
    return SourceDocument(str(meta.get("source_id") or _slug(path)), path, text, sections, meta)


def _text(path: Path) -> SourceDocument:
    text = _read_text(path)
    return SourceDocument(_slug(path), path, text, [Section("Text", 0, len(text))], {"title": path.stem})


def _html(path: Path, max_sentences: int) -> SourceDocument:
    """Visible text with h1-h3 as sections; scripts, styles and navigation are dropped, never run. The elements
    are counted before parsing: a 36 MB file of 2,000,000 paragraphs took 5.4 GB to parse."""
    from bs4 import BeautifulSoup  # lazy: only HTML files need it

    raw = _read_text(path)
    elements = sum(1 for _ in re.finditer(r"<[A-Za-z]", raw))
    if elements > HTML_ELEMENTS_PER_SENTENCE * max_sentences:
        raise IngestError(
            f"{path}: {elements:,} HTML elements, more than one document may hold ({HTML_ELEMENTS_PER_SENTENCE} "
            f"per sentence of IVL_MAX_DOCUMENT_SENTENCES={max_sentences:,}); split it or raise that setting"
        )
    soup = BeautifulSoup(raw, "html.parser")
    for tag in soup(["script", "style", "noscript", "nav", "header", "footer", "form", "iframe"]):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else path.stem
    parts: list[str] = []
    sections: list[Section] = []
    name, start = "Text", 0
    for el in soup.find_all(["h1", "h2", "h3", "p", "li", "td", "pre", "blockquote"]):
        if el.find_parent(["p", "li", "td", "pre", "blockquote"]):
            continue  # text already taken with its parent block
        piece = el.get_text(" ", strip=True)
        if not piece:
            continue
        offset = sum(len(p) + 2 for p in parts)
        if el.name in ("h1", "h2", "h3"):
            if offset > start:
                sections.append(Section(name, start, offset - 2))
            name, start = piece, offset + len(piece) + 2
        parts.append(piece)
    text = "\n\n".join(parts)
    if len(text) > start:
        sections.append(Section(name, start, len(text)))
    meta = {"title": title}
    return SourceDocument(_slug(path), path, text, sections, meta)


def _pdf(path: Path) -> SourceDocument:
    """Text layer, page by page; each page is a section ("Page 3") since PDFs carry no reliable headings."""
    from pypdf import PdfReader  # lazy: only PDF files need it

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(f"{path}: PDF is encrypted; save an unencrypted copy")
        pages = [clean(page.extract_text() or "") for page in reader.pages]
    except IngestError:
        raise
    except Exception as err:  # noqa: BLE001 -- pypdf raises many types on damaged files; all mean "unreadable"
        raise IngestError(f"{path}: unreadable PDF ({type(err).__name__}: {err})") from None
    sections, chunks, offset = [], [], 0
    for number, page in enumerate(pages, start=1):
        page = re.sub(r"[ \t]+\n", "\n", page).strip()
        if page:
            sections.append(Section(f"Page {number}", offset, offset + len(page)))
            chunks.append(page)
            offset += len(page) + 2
    info = reader.metadata or {}
    meta = {"title": clean(str(info.get("/Title") or path.stem)) if hasattr(info, "get") else path.stem}
    return SourceDocument(_slug(path), path, "\n\n".join(chunks), sections, meta)
