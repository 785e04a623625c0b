"""The built-in answerer: the sources' own sentences, chosen for the question, each one cited.

No language model runs here, so an answer is made of quoted sentences: score the sentences of the
retrieved chunks (embedding similarity plus term overlap), drop near-repeats (MMR), keep a few, order
them as they read in their source, and pass the draft through the validator. Below a calibrated score
the answer abstains.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files

import numpy as np

from chatbot.models import NOT_ADVICE, SOURCES_DIFFER, Answer, Citation, QuestionError
from chatbot.retrieval import hybrid, to_document
from chatbot.settings import Settings
from chatbot.text import STOP, WORD, Lexicon, clean, strip_markup
from chatbot.validator import Claim, Draft, abstention, validate
from ingest.pipeline import chunk_sentences, sentence_location

Row = tuple[str, dict, np.ndarray, "frozenset[str] | None"]  # a sentence: text, metadata, vector, stems
Span = tuple[str, int, int]  # where a sentence is: source id, start, end

NEAR_DUPLICATE = 0.9  # cosine above which two sentences say the same thing
KEEP_RELATIVE = 0.8  # a sentence joins the answer only if it scores at least this share of the best
QUANTITY = re.compile(r"(\d+(?:\.\d+)?)\s*(%|cases|years|months|weeks|days|mm|cm|mg)\b")


CALIBRATION = files("chatbot").joinpath("data/calibration.json")


def calibration() -> dict:
    """The abstention thresholds `ivl calibrate` chose on the labelled questions."""
    try:
        return json.loads(CALIBRATION.read_text(encoding="utf-8"))
    except FileNotFoundError:
        from ingest.documents import IngestError

        raise IngestError(f"{CALIBRATION} is missing; run `ivl calibrate` to create it") from None


@dataclass
class Candidate:
    text: str
    source_id: str
    start: int
    end: int
    vector: np.ndarray
    chunk: object  # the highest-ranked retrieved chunk holding this sentence
    rank: int
    similarity: float = 0.0
    overlap: float = 0.0
    score: float = 0.0


def previous_questions(history: Iterable) -> list[str]:
    """User turns from any history shape the callers use: strings, (user, bot) pairs, or role/content dicts."""
    out = []
    for turn in history or ():
        if isinstance(turn, str):
            out.append(turn)
        elif isinstance(turn, dict) and turn.get("role") == "user" and isinstance(turn.get("content"), str):
            out.append(turn["content"])
        elif isinstance(turn, (list, tuple)) and turn and isinstance(turn[0], str):
            out.append(turn[0])
    return out


class Answerer:
    def __init__(self, settings: Settings, embeddings=None):
        self.settings = settings
        self.embeddings = embeddings  # chosen once the index is known to exist (see reload)
        self.lexicon = Lexicon.load()
        self.reload()
        calibrated = calibration()
        self.threshold = (
            settings.abstain_threshold if settings.abstain_threshold is not None else calibrated["abstain_below"]
        )
        self.unknown_limit = (
            settings.unknown_limit if settings.unknown_limit is not None else calibrated["unknown_above"]
        )
        self.support_threshold = calibrated.get("support_threshold", 1.0)  # LLM path only; 1.0 = verbatim only

    def reload(self) -> None:
        """Open the index in service and build BM25 and term statistics from its chunks."""
        from chatbot.query_encoder import query_embeddings
        from ingest.store import all_records, open_index, version

        self.version = version(self.settings)
        self.index = open_index(self.settings, self.embeddings.name if self.embeddings else self.settings.embedding_model)
        if self.embeddings is None:
            # After the index opened: with none yet, the caller builds one (and its ONNX copy) and comes back,
            # rather than loading a question encoder first and saying the copy is missing.
            self.embeddings = query_embeddings(self.settings)
        got = all_records(self.index.chunks, ["documents", "metadatas"])
        docs = [to_document(i, t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]
        s = self.settings
        self.retriever = hybrid(
            self.index.chunks, self.embeddings, docs, s.k_dense, s.k_bm25, (s.weight_dense, s.weight_bm25), s.rrf_c
        )
        self.by_source: dict[str, list] = {}
        for d in sorted(docs, key=lambda d: d.metadata["start"]):
            self.by_source.setdefault(d.metadata["source_id"], []).append(d)
        df = Counter(t for d in docs for t in set(self.lexicon.terms(d.page_content, expand=False)))
        n = max(len(docs), 1)
        self.idf = {t: math.log(1 + n / c) for t, c in df.items()}
        self.unknown_idf = math.log(1 + n)
        # Filled as chunks and sentences are met; an index never changes under a version, so neither do these.
        # Splitting, fetching and stemming on every question was over a third of the answer time (profiled).
        self.chunk_sentence_spans: dict[str, list[tuple[str, Span]]] = {}
        self.rows: OrderedDict[str, Row] = OrderedDict()  # sentence id -> row, LRU
        self.rows_lock = threading.Lock()

    # -- question handling -------------------------------------------------------------------------------

    def check(self, question: str) -> str:
        if not isinstance(question, str):
            raise QuestionError("Ask a question as text.")
        q = clean(question)
        if not WORD.search(q.lower()):
            raise QuestionError("Ask a question about intravenous leiomyomatosis, e.g. “How is IVL treated?”")
        if len(q) > self.settings.max_question_chars:
            raise QuestionError(
                f"That question is {len(q):,} characters long; the limit is {self.settings.max_question_chars:,}. "
                "Ask the question on its own, without pasted documents."
            )
        return q

    def search_query(self, question: str, history: Iterable) -> str:
        """A follow-up ("and after radical surgery?") is searched together with the question before it."""
        earlier = previous_questions(history)
        if earlier and self.lexicon.is_followup(question):
            return f"{earlier[-1]} {question}"
        return question

    def term_groups(self, text: str) -> list[tuple[set[str], float]]:
        """Each content word of the question with the stems that count as it (its expansions), and its weight."""
        groups = []
        for word in dict.fromkeys(w for w in self.lexicon.words(text) if w not in STOP):
            stems = set(self.lexicon.terms(word, expand=False))
            if not stems:
                continue
            stems |= set(self.lexicon.terms(self.lexicon.expansions.get(word, ""), expand=False))
            weight = max(self.idf.get(t, self.unknown_idf) for t in self.lexicon.terms(word, expand=False))
            groups.append((stems, weight))
        return groups

    # -- answering ---------------------------------------------------------------------------------------

    def answer(self, question: str, history: Iterable = ()) -> Answer:
        started = time.perf_counter()
        q, query, chunks, cands = self.prepare(question, history)
        if self.abstains(cands, query):
            result = abstention(q)
        else:
            passages = {c.metadata["chunk_id"]: c.page_content for c in chunks}
            result = validate(self.draft(q, cands), passages)
        result.seconds = round(time.perf_counter() - started, 4)
        return result

    def prepare(self, question: str, history: Iterable = ()) -> tuple[str, str, list, list[Candidate]]:
        """Check the question, follow an index switch, retrieve and score; a lost index becomes one clear error."""
        from ingest.documents import IngestError
        from ingest.store import KnowledgeBaseUnavailable, version

        q = self.check(question)
        try:
            if version(self.settings) != self.version:
                self.reload()  # an ingest switched the index: serve the new one from this question on
            return (q, *self.gather(q, history))
        except IngestError:
            raise
        except Exception as err:  # noqa: BLE001 -- a lost server or index surfaces as many chromadb/httpx types
            raise KnowledgeBaseUnavailable(
                f"knowledge base unavailable: the index could not be searched ({type(err).__name__}); "
                "try again in a moment"
            ) from None

    def gather(self, question: str, history: Iterable = ()) -> tuple[str, list, list[Candidate]]:
        """The search query, the retrieved chunks and the scored candidate sentences for a checked question."""
        query = self.lexicon.focus(strip_markup(self.lexicon.strip_commands(self.search_query(question, history))))
        chunks = list(self.retriever.invoke(query)[: self.settings.k_final])
        return query, chunks, self.candidates(query, chunks)  # candidates() may add chunks

    def features(self, question: str, history: Iterable = ()) -> tuple[float, float]:
        """(best sentence score, unknown-word share): the two numbers abstention decides on."""
        query, _, cands = self.gather(self.check(question), history)
        return (cands[0].score if cands else 0.0), self.unknown_share(query)

    def candidates(self, query: str, chunks: list) -> list[Candidate]:
        """Sentences of the retrieved chunks, plus the sentences nearest the question in their own right
        (a one-line fact can drown in a chunk about something else); `chunks` grows by the chunks those
        sentences come from, so every candidate has a retrieved passage to cite."""
        qvec = np.asarray(self.embeddings.embed_query(self.lexicon.expand(query)), dtype=np.float32)
        # Chunk sentences by id (recomputed from each chunk), not by a metadata filter: a primary-key lookup stays
        # fast as the index grows, a range filter over every sentence does not.
        spans = {key: span for c in chunks for key, span in self.sentence_spans(c)}
        if self.settings.k_sentences:
            near = self.index.sentences.query(query_embeddings=[qvec], n_results=self.settings.k_sentences, include=[])
            for key in near["ids"][0]:
                spans.setdefault(key, sentence_location(key))
        rows = self.sentence_rows(spans)
        groups = self.term_groups(query)
        total = sum(w for _, w in groups) or 1.0
        w = self.settings.similarity_weight
        out = []
        for text, meta, vec, terms in rows.values():
            if terms is None:
                continue  # never quoted (see sentence_rows)
            found = self.containing_chunk(meta, chunks)
            if found is None:
                continue
            rank, chunk = found
            cand = Candidate(text, meta["source_id"], meta["start"], meta["end"], vec, chunk, rank)
            cand.similarity = float(vec @ qvec)
            cand.overlap = sum(wt for stems, wt in groups if stems & terms) / total
            cand.score = w * max(cand.similarity, 0.0) + (1 - w) * cand.overlap
            out.append(cand)
        return sorted(out, key=lambda c: (-c.score, c.rank, c.start))

    def sentence_rows(self, spans: dict[str, Span]) -> dict[str, Row]:
        """(text, metadata, vector, stems) per sentence id, from memory where it can (LRU), else the vector from
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
                quotable = not (self.lexicon.is_instruction(text) or self.lexicon.is_announcement(text))
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
        """Forget cached question vectors and sentences (the bench starts each round cold)."""
        self.embeddings.clear_cache()
        with self.rows_lock:
            self.rows.clear()

    def sentence_spans(self, chunk) -> list[tuple[str, Span]]:
        key = chunk.metadata["chunk_id"]
        if key not in self.chunk_sentence_spans:
            source_id = chunk.metadata["source_id"]
            self.chunk_sentence_spans[key] = [(i, (source_id, s, e)) for i, _, s, e in chunk_sentences(chunk)]
        return self.chunk_sentence_spans[key]

    def holding_chunk(self, source_id: str, start: int, end: int):
        """The first indexed chunk (in source order) whose span holds this one, or None."""
        for c in self.by_source.get(source_id, ()):
            if c.metadata["start"] <= start and end <= c.metadata["end"]:
                return c
        return None

    def text_at(self, source_id: str, start: int, end: int) -> str | None:
        """A sentence's words, cut from an indexed chunk that holds it (a chunk is its source's text verbatim)."""
        c = self.holding_chunk(source_id, start, end)
        return None if c is None else c.page_content[start - c.metadata["start"] : end - c.metadata["start"]]

    def containing_chunk(self, meta: dict, chunks: list) -> tuple[int, object] | None:
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

    def select(self, cands: list[Candidate]) -> list[Candidate]:
        """MMR over the sentences that score close to the best one."""
        best = cands[0].score
        pool = [c for c in cands if c.score >= max(self.threshold, best * KEEP_RELATIVE)]
        chosen = [pool.pop(0)]
        lam = self.settings.mmr_lambda
        while pool and len(chosen) < self.settings.answer_max_sentences:
            def mmr(c: Candidate) -> float:
                return lam * c.score - (1 - lam) * max(float(c.vector @ s.vector) for s in chosen)

            nxt = max(pool, key=mmr)
            pool.remove(nxt)
            if max(float(nxt.vector @ s.vector) for s in chosen) < NEAR_DUPLICATE:
                chosen.append(nxt)
        return chosen

    def disagreements(self, chosen: list[Candidate], cands: list[Candidate]) -> list[Candidate]:
        """Sentences from another source giving another figure for the same kind of quantity."""
        extra = []
        for sentence in chosen:
            for value, unit in QUANTITY.findall(sentence.text):
                for other in cands:
                    if other in chosen or other in extra or other.source_id == sentence.source_id:
                        continue
                    if other.overlap < sentence.overlap * 0.8 or other.score < self.threshold:
                        continue
                    if any(u == unit and v != value for v, u in QUANTITY.findall(other.text)):
                        extra.append(other)
                        break
        return extra

    @staticmethod
    def differ(chosen: list[Candidate]) -> bool:
        """Do two sentences from different sources give different figures in the same unit?"""
        figures = [(c.source_id, u, v) for c in chosen for v, u in QUANTITY.findall(c.text)]
        return any(s1 != s2 and u1 == u2 and v1 != v2 for s1, u1, v1 in figures for s2, u2, v2 in figures)

    def unknown_share(self, query: str) -> float:
        """Share of the question's weight in words the corpus never uses ("survival", "France")."""
        groups = self.term_groups(query)
        total = sum(w for _, w in groups) or 1.0
        return sum(w for stems, w in groups if not stems & self.idf.keys()) / total

    def abstains(self, cands: list[Candidate], query: str) -> bool:
        return not cands or cands[0].score < self.threshold or self.unknown_share(query) > self.unknown_limit

    def draft(self, question: str, cands: list[Candidate]) -> Draft:
        chosen = self.select(cands)
        chosen += self.disagreements(chosen, cands)
        differing = self.differ(chosen)
        notices = [SOURCES_DIFFER] if differing else []
        if self.lexicon.is_personal(question):
            notices.append(NOT_ADVICE)
        lead = chosen[0].source_id
        if differing:  # oldest source first, so the figures read as a timeline
            chosen.sort(key=lambda c: (str(c.chunk.metadata.get("date")), c.start))
        else:
            chosen.sort(key=lambda c: (c.source_id != lead, c.source_id, c.start))
        claims, citations = [], {}
        for n, c in enumerate(chosen, start=1):
            m = c.chunk.metadata
            citations[n] = Citation(
                n=n,
                source_id=m["source_id"],
                title=m["title"],
                section=m["section"],
                date=str(m.get("date", "")),
                url=m.get("url", ""),
                quote=c.text,
                chunk_id=m["chunk_id"],
                evidence=m.get("evidence", ""),
                licence=m.get("licence", ""),
                start=c.start,
                end=c.end,
            )
            claims.append(Claim(c.text, [n]))
        return Draft(question, claims, citations, notices)
