"""The built-in answerer: the sources' own sentences, chosen for the question, each one cited.

No language model runs here, so an answer is made of quoted sentences: retrieve chunks (hybrid search),
score their sentences (scoring.py), abstain below the calibrated thresholds (abstention.py), otherwise
choose a few (selection.py, disagreement.py), draft them in reading order (drafting.py) and pass the draft
through the validator, which renders only what it could check.

The public surface, shared with the LLM answerer (chatbot/llm.py), is what the CLI, the chat, the evals and
the bench use: `answer`, `stream`, `retrieve`, `chunks`, `clear_cache`, and `encoder`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from langchain_core.documents import Document

from chatbot.abstention import Abstention, abstained
from chatbot.drafting import draft
from chatbot.knowledge import IndexView
from chatbot.models import Answer, Retrieval
from chatbot.question import checked, search_query
from chatbot.scoring import Candidate, candidates, term_groups, unknown_share
from chatbot.settings import AnswerSettings
from chatbot.text import Lexicon
from chatbot.validator import validate
from ivl_index.errors import KnowledgeBaseUnavailable, UserError


@dataclass
class Considered:
    """A question after retrieval and scoring: what was searched and found, the candidate sentences (best
    first), and whether the answer abstains."""

    retrieval: Retrieval
    candidates: list[Candidate]
    unknown_share: float
    abstains: bool


class Answerer:
    def __init__(self, settings: AnswerSettings, embeddings=None):
        self.settings = settings
        self.lexicon = Lexicon.load()
        self.view = IndexView(settings, self.lexicon, embeddings)
        self.abstention = Abstention.from_settings(settings)

    @property
    def encoder(self):
        """What embeds questions (the ONNX copy, or sentence-transformers)."""
        return self.view.embeddings

    # -- the public surface ---------------------------------------------------------------------------------

    def answer(self, question: str, history: Iterable = ()) -> Answer:
        started = time.perf_counter()
        c = self.consider(question, history)
        q = c.retrieval.question
        if c.abstains:
            result = abstained(q)
        else:
            s = self.settings
            d = draft(q, c.candidates, self.lexicon, self.abstention.abstain_below, s.answer_max_sentences, s.mmr_lambda)
            result = validate(d, {ch.metadata["chunk_id"]: ch.page_content for ch in c.retrieval.chunks})
        result.seconds = round(time.perf_counter() - started, 4)
        return result

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
        """Check the question, follow an index switch, retrieve, score and decide abstention; a lost index or
        server becomes one clear error."""
        q = checked(question, self.settings.max_question_chars)
        try:
            if not self.view.is_current():
                self.view = IndexView(self.settings, self.lexicon, self.view.embeddings)  # serve the new index
            return self._consider(q, history)
        except UserError:
            raise
        except Exception as err:  # noqa: BLE001 -- a lost server or index surfaces as many chromadb/httpx types
            raise KnowledgeBaseUnavailable(
                f"knowledge base unavailable: the index could not be searched ({type(err).__name__}); "
                "try again in a moment"
            ) from None

    def _consider(self, q: str, history: Iterable) -> Considered:
        view, s = self.view, self.settings
        query = search_query(q, history, self.lexicon, view.speller)
        ranked = list(view.retriever.invoke(query))
        chunks = ranked[: s.k_final]
        qvec = np.asarray(view.embeddings.embed_query(self.lexicon.expand(query)), dtype=np.float32)
        groups = term_groups(query, self.lexicon, view)
        cands = candidates(groups, qvec, chunks, view, s.k_sentences, s.similarity_weight)  # adds chunks
        unknown = unknown_share(groups, view)
        abstains = self.abstention.abstains(cands[0].score if cands else None, unknown)
        return Considered(Retrieval(q, query, ranked, chunks), cands, unknown, abstains)

    def support_score(self, claim: str, quote: str) -> float:
        """How well a quote supports a paraphrase of it: half term overlap (share of the claim's words in the
        quote), half embedding similarity. The LLM path's support test; `ivl calibrate` fits its threshold."""
        lex = self.lexicon
        words = set(lex.terms(claim, expand=False))
        overlap = len(words & set(lex.terms(quote, expand=False))) / len(words) if words else 0.0
        a, b = (np.asarray(self.view.embeddings.embed_query(t), dtype=np.float32) for t in (claim, quote))
        return 0.5 * overlap + 0.5 * float(a @ b)
