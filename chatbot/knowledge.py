"""The answerer's view of one index version: its chunks (for BM25 and citing), term statistics, and each
sentence's words, place and vector, cached. A chunk is its source's text verbatim, so a sentence's words are
cut from the chunk holding its span instead of being read from Chroma again."""

from __future__ import annotations

import math
import threading
from collections import Counter, OrderedDict

import numpy as np
from langchain_core.documents import Document

from chatbot.language import in_english
from chatbot.models import EDITOR_NOTES, coverage
from chatbot.named import SourceNames
from chatbot.nearest import Nearest
from chatbot.retrieval import hybrid, to_document
from chatbot.settings import AnswerSettings
from chatbot.spelling import LETTERS, Speller
from chatbot.text import STOP, Lexicon
from ivl_index import store, versions
from ivl_index.documents import SOURCE_DETAILS
from ivl_index.errors import IndexEmpty
from ivl_index.onnx_encoder import query_embeddings
from ivl_index.sentences import chunk_sentences, sentence_location

Span = tuple[str, int, int]  # where a sentence is: source id, start, end
Row = tuple[str, dict, np.ndarray, "frozenset[str] | None"]  # a sentence: text, place, vector, stems (None: never quote)


class IndexView:
    """Opened once per index version; an index never changes under a version, so neither does anything here."""

    def __init__(self, settings: AnswerSettings, lexicon: Lexicon, embeddings=None):
        self.settings = settings
        self.lexicon = lexicon
        self.version = versions.version(settings)
        self.index = store.open_index(settings, embeddings.name if embeddings else settings.embedding_model)
        # Chosen after the index opened: with none yet, the caller builds one (and its ONNX copy) and comes back,
        # rather than loading a question encoder first and saying the copy is missing.
        self.embeddings = embeddings or query_embeddings(settings)
        s = settings
        got, exact = self.index.read_chunks(s.exact_search_max)  # exact: see chatbot/nearest.py
        order = sorted(range(len(got["ids"])), key=got["ids"].__getitem__)  # id order: ties never follow the build
        self.docs = [to_document(got["ids"][i], got["documents"][i], got["metadatas"][i]) for i in order]
        for d in self.docs:  # the editor's notes stored with this version, for citations (chatbot/models.py)
            d.metadata[EDITOR_NOTES] = self.index.notes.get(d.metadata["source_id"], {})
        # A source's own dating and licence lines answer only questions about the source (answerer.py), so the
        # search for a passage about the disease never spends a place on them.
        self.details = [d for d in self.docs if d.metadata.get("section") == SOURCE_DETAILS]
        kept = [(d, i) for d, i in zip(self.docs, order) if d.metadata.get("section") != SOURCE_DETAILS]
        if not kept:
            raise IndexEmpty(f"the index in {settings.data_dir} holds no document to answer from; add one with `ivl ingest PATH`")
        searched = [d for d, _ in kept]
        if exact:
            vectors = np.array([got["embeddings"][i] for _, i in kept], dtype=np.float32)
            chunk_search = Nearest(None, [d.id for d in searched], vectors)
        else:
            chunk_search = Nearest(self.index.chunks, where={"section": {"$ne": SOURCE_DETAILS}} if self.details else None)
        self.retriever = hybrid(
            chunk_search, self.embeddings, searched, s.k_dense, s.k_bm25, (s.weight_dense, s.weight_bm25), s.rrf_c
        )
        vecs = self.index.vectors
        if vecs is not None and len(vecs.ids) <= s.exact_search_max:  # the vector file is in id order
            self.sentence_search = Nearest(None, [i.decode() for i in vecs.ids], vecs.vectors)
        else:  # a server index, or a large one
            self.sentence_search = Nearest(self.index.sentences)
        # What an abstention says the sources cover: the documents this index holds, by their own titles.
        self.coverage = coverage(
            {d.metadata["source_id"]: (d.metadata.get("title", ""), str(d.metadata.get("date", ""))) for d in self.docs}
        )
        self.by_source: dict[str, list[Document]] = {}
        for d in sorted(self.docs, key=lambda d: d.metadata["start"]):
            self.by_source.setdefault(d.metadata["source_id"], []).append(d)
        df = Counter(t for d in self.docs for t in set(lexicon.terms(d.page_content, expand=False)))
        n = max(len(self.docs), 1)
        self.idf = {t: math.log(1 + n / c) for t, c in df.items()}
        self.unknown_idf = math.log(1 + n)
        corpus_words = {w.lower() for d in self.docs for w in LETTERS.findall(d.page_content)}
        self.speller = Speller(corpus_words, known={*STOP, *lexicon.spellings, *lexicon.expansions})
        # The names each document answers to ("according to GARD ..."), from one chunk's fields per source.
        documents = {d.metadata["source_id"]: d.metadata for d in self.docs}
        self.names = SourceNames(documents, self.speller.corpus | lexicon.expansions.keys())
        # Splitting, fetching and stemming on every question was over a third of the answer time (profiled).
        self.chunk_sentence_spans: dict[str, list[tuple[str, Span]]] = {}
        self.rows: OrderedDict[str, Row] = OrderedDict()  # sentence id -> row, LRU
        self.rows_lock = threading.Lock()

    def is_current(self) -> bool:
        """False once an ingest has switched the index in service."""
        return versions.version(self.settings) == self.version

    def near_sentences(self, vector: np.ndarray, k: int) -> dict[str, Span]:
        """The k sentences nearest a question vector in their own right, by id and place."""
        return {key: sentence_location(key) for key in self.sentence_search(vector, k)}

    def sentence_spans(self, chunk: Document) -> list[tuple[str, Span]]:
        """Ids and places of a chunk's sentences, recomputed from the chunk (a primary-key lookup stays fast as
        the index grows; a metadata range filter over every sentence does not)."""
        key = chunk.metadata["chunk_id"]
        if key not in self.chunk_sentence_spans:
            source_id = chunk.metadata["source_id"]
            self.chunk_sentence_spans[key] = [(i, (source_id, s, e)) for i, _, s, e in chunk_sentences(chunk)]
        return self.chunk_sentence_spans[key]

    def holding_chunk(self, source_id: str, start: int, end: int) -> Document | None:
        """The first indexed chunk (in source order) whose span holds this one, or None."""
        for c in self.by_source.get(source_id, ()):
            if c.metadata["start"] <= start and end <= c.metadata["end"]:
                return c
        return None

    def text_at(self, source_id: str, start: int, end: int) -> str | None:
        """A sentence's words, cut from an indexed chunk that holds it."""
        c = self.holding_chunk(source_id, start, end)
        return None if c is None else c.page_content[start - c.metadata["start"] : end - c.metadata["start"]]

    def containing_chunk(self, meta: dict, chunks: list[Document]) -> tuple[int, Document] | None:
        """The best-ranked retrieved chunk holding this sentence; failing that, any indexed chunk, now retrieved."""
        for rank, c in enumerate(chunks):
            m = c.metadata
            if m["source_id"] == meta["source_id"] and m["start"] <= meta["start"] and meta["end"] <= m["end"]:
                return rank, c
        c = self.holding_chunk(meta["source_id"], meta["start"], meta["end"])
        if c is None:
            return None
        chunks.append(c)
        return len(chunks) - 1, c

    def sentence_rows(self, spans: dict[str, Span]) -> dict[str, Row]:
        """(text, place, vector, stems) per sentence id, from memory where it can (LRU), else the vector from
        the index's vector file (Chroma for a server index) and the text from the chunk holding it: reading each
        sentence's text and metadata from Chroma as well cost 2 ms a question at 100x (measured).
        Stems are None for a sentence never to quote: a planted instruction is neither a claim nor a passage
        for a model, and an announcement ("the following lessons can be drawn") is true but answers nothing."""
        ids = list(spans)
        with self.rows_lock:
            out = {i: self.rows[i] for i in ids if i in self.rows}
        missing = [i for i in ids if i not in out]
        if missing:
            if self.index.vectors is not None:
                vectors = self.index.vectors.get(missing)
            else:
                got = self.index.sentences.get(ids=missing, include=["embeddings"])
                vectors = dict(zip(got["ids"], got["embeddings"]))
            for i, vec in vectors.items():
                source_id, start, end = spans[i]
                text = self.text_at(source_id, start, end)
                if text is None:
                    continue  # no indexed chunk holds it: nothing to cite it by
                quotable = not (self.lexicon.is_instruction(text) or self.lexicon.is_announcement(text) or not in_english(text))
                terms = frozenset(self.lexicon.terms(text, expand=False)) if quotable else None
                meta = {"source_id": source_id, "start": start, "end": end}
                out[i] = (text, meta, np.asarray(vec, dtype=np.float32), terms)
        with self.rows_lock:
            for i, row in out.items():
                self.rows[i] = row
                self.rows.move_to_end(i)
            while len(self.rows) > self.settings.sentence_cache:
                self.rows.popitem(last=False)
        return {i: out[i] for i in ids if i in out}

    def clear_cache(self) -> None:
        with self.rows_lock:
            self.rows.clear()
