"""The work one document may cause is bounded, and checked before anything is embedded (issue 24 item 12): a 36 MB
HTML file of 2,000,000 paragraphs (under the 50 MB limit) took 5.4 GB and would have embedded for ~8 hours. And
each distinct text is embedded once: a long line without a full stop becomes chunks whose sentences are the same
texts, and both were embedded (a 1 MB line: 854 chunks, 1,708 texts, 120 s)."""

from __future__ import annotations

import random
import re

import pytest

from ingest.chunking import chunk_document
from ingest.loaders import load
from ingest.pipeline import run_ingest
from ingest.tokens import WordPieces
from ivl.settings import load_settings
from ivl_index import store
from ivl_index.errors import IngestError
from tests.conftest import CORPUS


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message.split("nothing was ingested; the index is unchanged:\n  ")[-1], message
    return message


def test_a_document_past_the_sentence_limit_is_refused_before_anything_is_embedded(embeddings, tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", max_document_sentences=500)
    path = tmp_path / "flood.txt"
    path.write_text("\n\n".join(f"Paragraph {i} mentions IVL." for i in range(2_000)), encoding="utf-8")
    before = embeddings.embedded
    with pytest.raises(IngestError, match="IVL_MAX_DOCUMENT_SENTENCES") as err:
        run_ingest(settings, [path], embeddings=embeddings, progress=False)
    assert str(path) in one_line(err) and "raise that setting" in str(err.value)
    assert embeddings.embedded == before and store.current(settings) is None  # nothing embedded, no index made


def test_an_html_file_of_too_many_elements_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "flood.html"
    path.write_text("<html><body>" + "<p>IVL.</p>" * 2_000 + "</body></html>", encoding="utf-8")
    with pytest.raises(IngestError, match="HTML elements") as err:
        load(path, max_sentences=100)
    assert "IVL_MAX_DOCUMENT_SENTENCES" in one_line(err)
    assert len(load(path).sections[0].name) > 0  # within the default it loads


def test_the_longest_real_document_passes_the_default_limits_with_room(embeddings):
    default = load_settings().max_document_sentences
    doc = load(CORPUS / "zhao-tian-2026.md")
    chunks = chunk_document(doc, WordPieces.of_embeddings(embeddings), 256, 200, 1, max_sentences=default)
    sentences = len({s for c in chunks for s in re.split(r"(?<=\.) ", c.page_content)})
    assert sentences * 10 < default  # a full-text article ten times this case report's length still passes
    assert len(re.findall(r"<[A-Za-z]", (CORPUS / "zhao-tian-2026.md").read_text(encoding="utf-8"))) < default


def test_a_long_line_without_a_full_stop_embeds_each_distinct_text_once(embeddings, tmp_path):
    words = re.findall(r"[a-z]+", (CORPUS / "zhao-tian-2026.md").read_text(encoding="utf-8").lower())
    rng = random.Random(24)
    path = tmp_path / "line.txt"
    path.write_text(" ".join(rng.choice(words) for _ in range(3_000)), encoding="utf-8")
    settings = load_settings(data_dir=tmp_path / "data", query_encoder="sentence-transformers")
    report = run_ingest(settings, [path], embeddings=embeddings, progress=False)
    assert report.chunks >= 10 and report.sentences == report.chunks  # each piece is a chunk and a sentence
    assert report.embedded == report.chunks  # once each, not once as a chunk and again as a sentence
    index = store.open_index(settings, embeddings.name)
    assert index.chunks.count() == index.sentences.count() == report.chunks
