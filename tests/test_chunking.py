"""Chunks fit the model, never cut a sentence, point back into their file, and keep their ids."""

from __future__ import annotations

from ingest.chunking import chunk_document
from ingest.loaders import load
from ingest.tokens import WordPieces
from ivl_index.sentences import chunk_sentences, sentence_location, sentence_spans
from tests.conftest import CORPUS


def chunks_of(name, embeddings, **kw):
    args = {"max_tokens": 256, "target_tokens": 200, "overlap": 1} | kw
    return chunk_document(load(CORPUS / name), WordPieces.of_embeddings(embeddings), **args)


def test_chunks_fit_the_model_tokenizer(embeddings):
    for name in ("gard-ivl.md", "zhao-tian-2026.md"):
        for chunk in chunks_of(name, embeddings):
            ids = embeddings.model.tokenizer(chunk.page_content)["input_ids"]
            assert len(ids) <= 256, chunk.metadata["chunk_id"]


def test_a_small_ceiling_still_holds_and_cuts_only_overlong_sentences(embeddings):
    chunks = chunks_of("zhao-tian-2026.md", embeddings, max_tokens=48, target_tokens=40)
    assert all(embeddings.count_tokens(c.page_content) <= 48 for c in chunks)
    assert any(c.metadata["split_sentence"] for c in chunks)


def test_chunks_are_whole_sentences_and_spans_point_into_the_file(embeddings):
    doc = load(CORPUS / "zhao-tian-2026.md")
    starts = {s for s, _ in sentence_spans(doc.text)} | {
        s for sec in doc.sections for s, _ in sentence_spans(doc.text, sec.start, sec.end)
    }
    ends = {e for sec in doc.sections for _, e in sentence_spans(doc.text, sec.start, sec.end)}
    for chunk in chunks_of("zhao-tian-2026.md", embeddings):
        m = chunk.metadata
        assert doc.text[m["start"] : m["end"]] == chunk.page_content
        assert m["start"] in starts and m["end"] in ends


def test_neighbours_overlap_by_a_sentence(embeddings):
    chunks = [c for c in chunks_of("zhao-tian-2026.md", embeddings) if c.metadata["section"] == "Discussion"]
    assert all(b.metadata["start"] < a.metadata["end"] for a, b in zip(chunks, chunks[1:]))


def test_ids_are_stable_and_change_with_the_words(embeddings, tmp_path):
    first = [c.metadata["chunk_id"] for c in chunks_of("gard-ivl.md", embeddings)]
    assert first == [c.metadata["chunk_id"] for c in chunks_of("gard-ivl.md", embeddings)]
    edited = tmp_path / "gard-ivl.md"
    edited.write_text((CORPUS / "gard-ivl.md").read_text().replace("about 200 cases", "about 300 cases"))
    changed = [c.metadata["chunk_id"] for c in chunk_document(load(edited), WordPieces.of_embeddings(embeddings), 256, 200, 1)]
    assert changed[0] == first[0]  # Source details
    assert changed[1] != first[1] and changed[2:] == first[2:]  # only the Summary's chunk changed


def test_no_back_matter_or_email_in_any_chunk(embeddings):
    chunks = chunks_of("zhao-tian-2026.md", embeddings) + chunks_of("gard-ivl.md", embeddings)
    sections = {c.metadata["section"] for c in chunks}
    assert sections == {
        "Source details", "Abstract", "Introduction", "Case report", "Discussion", "Figures", "Summary",
        "Signs and symptoms", "Treatment",
    }  # fmt: skip
    assert not any("@" in c.page_content or "qq.com" in c.page_content for c in chunks)
    assert not any("[1]" in c.page_content for c in chunks)


def test_figure_captions_no_longer_cut_sentences(embeddings):
    text = (CORPUS / "zhao-tian-2026.md").read_text()
    for joined in (
        "Concurrently, minimal pelvic effusion was noted (Fig. 1).",
        "the tumor cells appeared as benign spindle-shaped cells",
        "revealed no notable abnormalities.",
        "left ovarian vein > left renal vein > inferior vena cava",
        "a leiomyoma nodule ~7 cm in diameter was observed",
    ):
        assert joined in text


def test_a_sentence_id_says_where_its_words_are_in_every_chunk_holding_it(embeddings):
    """The answerer reads only vectors from the index: a sentence's words come from any chunk that holds its span."""
    chunks = chunks_of("zhao-tian-2026.md", embeddings) + chunks_of("gard-ivl.md", embeddings)
    for chunk in chunks:
        for key, text, start, end in chunk_sentences(chunk):
            assert sentence_location(key) == (chunk.metadata["source_id"], start, end)
            for other in chunks:
                m = other.metadata
                if m["source_id"] == chunk.metadata["source_id"] and m["start"] <= start and end <= m["end"]:
                    assert other.page_content[start - m["start"] : end - m["start"]] == text
