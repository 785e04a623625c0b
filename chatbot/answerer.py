"""The built-in answerer: the sources' own sentences, chosen for the question, each one cited.

No language model runs here, so an answer is made of quoted sentences: read what the question asks for
(analysis.py), retrieve chunks (hybrid search), measure their sentences (scoring.py), rank them with the
fitted ranker (ranker.py), abstain by the calibrated decision (abstention.py), otherwise compose an answer
(composition.py, disagreement.py), draft it in reading order (drafting.py) and pass the draft through the
validator, which renders only what it could check.

The public surface, shared with the LLM answerer (chatbot/llm.py), is what the CLI, the chat, the evals and
the bench use: `answer`, `stream`, `retrieve`, `chunks`, `clear_cache`, and `encoder`; and `explain`, the answer
with the reasons for it (the eval's report).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from langchain_core.documents import Document

from chatbot import support
from chatbot.abstention import Abstention, abstained
from chatbot.analysis import Analysis, analyse
from chatbot.drafting import draft
from chatbot.glossary import Glossary
from chatbot.knowledge import IndexView
from chatbot.language import in_another_script
from chatbot.models import Answer, Related, Retrieval
from chatbot.named import Named
from chatbot.question import checked, previous_questions, search_query
from chatbot.ranker import question_features, rank, sentence_features
from chatbot.render import escape_markdown
from chatbot.scoring import Candidate, Group, candidates, term_groups, unknown_shares
from chatbot.service import Explained, Passage, RankedSentence
from chatbot.settings import AnswerSettings
from chatbot.text import STOP, Lexicon
from chatbot.validator import validate
from ivl_index.documents import SOURCE_DETAILS
from ivl_index.errors import KnowledgeBaseUnavailable, UserError

RELATED = 3  # closest passages offered under an abstention
EXPLAINED = 10  # best-ranked sentences an explained answer lists
# Said, as a refusal, to a question written mostly in another script: searching English sentences with Arabic or
# Chinese words found unrelated passages, or abstained without saying why.
ENGLISH_ONLY = (
    "The sources here are in English, and I can only search English text. Please ask your question in English, "
    "e.g. “How is IVL treated?”"
)
ELLIPTICAL_WORDS = 5  # content words up to which a question may lean on the one before (every tune follow-up does)


def related(ranked: list[Candidate]) -> list[Related]:
    """The best-ranked candidate sentences, one per chunk, as passages a reader may judge (not an answer)."""
    out, seen = [], set()
    for c in ranked:
        meta = c.chunk.metadata
        if meta["chunk_id"] in seen:
            continue
        seen.add(meta["chunk_id"])
        out.append(Related(source_id=c.source_id, title=str(meta.get("title", c.source_id)), section=c.section,
                           quote=c.text, chunk_id=meta["chunk_id"], start=c.start, end=c.end))  # fmt: skip
        if len(out) == RELATED:
            break
    return out


def explained(answer: Answer, c: Considered, answer_at: float | None, shown: int = EXPLAINED) -> Explained:
    """An answer with the considered question behind it: the passages it could cite with their best sentence's
    cosine and probability, and the `shown` best-ranked sentences."""
    place = {d.metadata["chunk_id"]: n for n, d in enumerate(c.retrieval.ranked, 1)}
    best: dict[str, Candidate] = {}
    for cand in c.candidates:  # best first: the first seen of a chunk is its best by probability
        best.setdefault(cand.chunk.metadata["chunk_id"], cand)
    passages = []
    for d in c.retrieval.chunks:
        cid = d.metadata["chunk_id"]
        top = best.get(cid)
        sims = [x.similarity for x in c.candidates if x.chunk.metadata["chunk_id"] == cid]
        passages.append(Passage(cid, d.metadata["source_id"], str(d.metadata.get("section", "")), place.get(cid),
                                round(max(sims), 4) if sims else None, round(top.score, 4) if top else None))  # fmt: skip
    ranked = [RankedSentence(x.text, x.chunk.metadata["chunk_id"], round(x.score, 4), round(x.similarity, 4),
                             round(x.overlap, 4)) for x in c.candidates[:shown]]  # fmt: skip
    return Explained(answer, c.retrieval, passages, ranked, round(c.answerable, 4), answer_at)


@dataclass
class Gathered:
    """A question after retrieval, before the fitted models: what was searched and found, what the question
    asks for, its candidate sentences (in retrieval order) and the features the models read."""

    retrieval: Retrieval
    analysis: Analysis
    candidates: list[Candidate]
    groups: list[Group]  # the question's words, what counts as each, and their weights
    parts: list[list[Group]]  # the term groups of each part of the question
    sentence_rows: np.ndarray  # ranker features, one row per candidate
    unknown: tuple[float, float]  # the question's weight in words the corpus never uses: (rare, everyday) English
    named: Named | None = None  # the source the question names, if it names one
    part_vectors: np.ndarray | None = None  # the matcher's vector of each part, for a question asking several things


@dataclass
class Considered:
    """A gathered question ranked and decided: candidates best first, P(the sources answer it), abstention."""

    gathered: Gathered
    candidates: list[Candidate]
    answerable: float
    abstains: bool
    follows: str = ""  # the previous question, when the search joined it to this one

    @property
    def retrieval(self) -> Retrieval:
        return self.gathered.retrieval


class Answerer:
    def __init__(self, settings: AnswerSettings, embeddings=None, fitted: dict | None = None):
        """fitted: a calibration being made (evals/calibrate.py) instead of the shipped one."""
        self.settings = settings
        self.lexicon = Lexicon.load()
        self.view = IndexView(settings, self.lexicon, embeddings)
        self.fitted = fitted

    @cached_property
    def abstention(self) -> Abstention:
        """Loaded on first use, so that `ivl calibrate` can gather features before any calibration exists."""
        return Abstention.from_settings(self.settings, self.fitted)

    @property
    def encoder(self):
        """What embeds questions (the ONNX copy, or sentence-transformers)."""
        return self.view.embeddings

    # -- the public surface ---------------------------------------------------------------------------------

    def answer(self, question: str, history: Iterable = ()) -> Answer:
        return self._answered(question, history)[0]

    def explain(self, question: str, history: Iterable = ()) -> Explained:
        """The answer with the reasons for it (chatbot/service.py `Explains`): what `answer` returns, and the
        retrieval, ranked sentences and P(answerable) it was made from (built only here, not for every answer)."""
        result, c = self._answered(question, history)
        return Explained(result) if c is None else explained(result, c, self.abstention.answer_at)

    def _answered(self, question: str, history: Iterable) -> tuple[Answer, Considered | None]:
        started = time.perf_counter()
        if isinstance(question, str) and in_another_script(question):
            return Answer(question=question, answer=ENGLISH_ONLY, abstained=True), None
        c = self.consider(question, history)
        q = c.retrieval.question
        if c.abstains:
            named = c.gathered.named
            unheld = f"None of the documents here is “{escape_markdown(named.name)}”. " if named and not named.source_ids else ""
            result = abstained(q, unheld + self.view.coverage)
            result.related = related(c.candidates)
        else:
            d = draft(q, c.candidates, c.gathered.part_vectors, self.lexicon, self.abstention, self.settings)
            passages = {ch.metadata["chunk_id"]: ch.page_content for ch in c.retrieval.chunks}
            result = validate(d, passages, covered=self.view.coverage)
        result = Glossary.load().define(result)
        result.query, result.follows = c.retrieval.query, c.follows
        result.seconds = round(time.perf_counter() - started, 4)
        return result, c

    def stream(self, question: str, history: Iterable = ()) -> Iterator[str | Answer]:
        """The same interface as the LLM answerer's: text while it is written (none here), the Answer last."""
        yield self.answer(question, history)

    def retrieve(self, question: str, history: Iterable = ()) -> Retrieval:
        """The query the product searched for this question and the chunks it found (the evals score these)."""
        return self.consider(question, history).retrieval

    def chunks(self) -> list[Document]:
        """Every chunk of the index in service."""
        return list(self.view.docs)

    def clear_cache(self) -> None:
        """Forget cached question vectors and sentences (the bench starts each round cold)."""
        self.view.embeddings.clear_cache()
        self.view.clear_cache()

    # -- used by the LLM answerer and by calibration ------------------------------------------------------------

    def consider(self, question: str, history: Iterable = ()) -> Considered:
        """Gather, rank and decide, reading the conversation only where the question needs it: a question
        worded as a follow-up ("and after TAH-BSO?") is read with the one before it; any other is read alone,
        and with the one before it only when alone the sources would not answer it ("histo features" after
        "index case final path"), so "what causes it" is never coloured by the question before."""
        history = list(history or ())
        if not previous_questions(history) or self.lexicon.is_followup(question):
            return self._considered(question, history, None)
        alone = self._considered(question, history, False)
        if not alone.abstains or len([w for w in self.lexicon.words(question) if w not in STOP]) > ELLIPTICAL_WORDS:
            return alone
        joined = self._considered(question, history, True)
        return alone if joined.abstains else joined

    def _considered(self, question: str, history: list, join: bool | None) -> Considered:
        g = self.gather(question, history, join)
        a = self.abstention
        ranked = rank(g.candidates, a.ranker.probability(g.sentence_rows)) if g.candidates else []
        p = a.answerable_probability(question_features(ranked, g.analysis, g.groups, g.unknown)) if ranked else None
        if g.named and not g.named.source_ids:
            p = None  # a source the index does not hold answers nothing here
        earlier = previous_questions(history)
        joined = earlier and (self.lexicon.is_followup(question) if join is None else join)
        return Considered(g, ranked, p or 0.0, a.abstains(p), earlier[-1] if joined else "")

    def gather(self, question: str, history: Iterable = (), join: bool | None = None) -> Gathered:
        """Check the question, follow an index switch, retrieve and measure; a lost index or server becomes one
        clear error."""
        q = checked(question, self.settings.max_question_chars)
        try:
            if not self.view.is_current():
                self.view = IndexView(self.settings, self.lexicon, self.view.embeddings)  # serve the new index
            return self._gather(q, history, join)
        except UserError:
            raise
        except Exception as err:  # noqa: BLE001 -- a lost server or index surfaces as many chromadb/httpx types
            raise KnowledgeBaseUnavailable(
                f"knowledge base unavailable: the index could not be searched ({type(err).__name__}); "
                "try again in a moment"
            ) from None

    def _gather(self, q: str, history: Iterable, join: bool | None) -> Gathered:
        view, s = self.view, self.settings
        query = search_query(q, history, self.lexicon, view.speller, join)
        analysis = analyse(query)
        named = view.names.find(q)
        ranked = list(view.retriever.invoke(query))
        if named and named.source_ids:  # "according to GARD, ...": that document only, all of it if need be
            ranked = [d for d in ranked if d.metadata["source_id"] in named.source_ids]
            ranked += [d for sid in named.source_ids for d in view.by_source.get(sid, ())
                       if d not in ranked and d.metadata.get("section") != SOURCE_DETAILS]  # fmt: skip
        qvec = np.asarray(view.embeddings.embed_query(self.lexicon.expand(query)), dtype=np.float32)
        groups = term_groups(query, self.lexicon, view)
        # A question about a source is answered from its own dating, authorship and licence lines, and only
        # such a question is: those lines say nothing about the disease.
        chunks = list(view.details) if analysis.about_sources else ranked[: s.k_final]
        cands = candidates(groups, qvec, chunks, view, 0 if analysis.about_sources else s.k_sentences)  # adds chunks
        cands = [c for c in cands if (c.section == SOURCE_DETAILS) == analysis.about_sources]
        if named and named.source_ids:
            cands = [c for c in cands if c.source_id in named.source_ids]
        parts = [term_groups(p, self.lexicon, view) for p in analysis.parts] if len(analysis.parts) > 1 else [groups]
        rows = sentence_features(cands, analysis, parts)
        unknown = unknown_shares(groups, view)
        several = len(analysis.parts) > 1
        pvecs = np.asarray(view.embeddings.embed_documents(list(analysis.parts)) if several else np.zeros((0, len(qvec))), dtype=np.float32)
        return Gathered(Retrieval(q, query, ranked, chunks), analysis, cands, groups, parts, rows, unknown, named, pvecs)

    def similarity(self, a: str, b: str) -> float:
        """The matcher's cosine between two texts."""
        u, v = (np.asarray(self.view.embeddings.embed_query(t), dtype=np.float32) for t in (a, b))
        return float(u @ v)

    def support_score(self, claim: str, quote: str) -> float:
        """How well a quote supports a paraphrase of it (chatbot/support.py); `ivl calibrate` fits the cut."""
        return support.score(claim, quote, self.lexicon, self.similarity)

    def supports(self, claim: str, quote: str) -> bool:
        """The LLM path's test: the quote itself, or a paraphrase keeping its numbers that scores the cut."""
        return support.supports(claim, quote, self.lexicon, self.abstention.support, self.similarity)

    @property
    def coverage(self) -> str:
        """What the index's sources cover, said when an answer abstains."""
        return self.view.coverage
