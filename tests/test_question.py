"""A question as users type it: shorthand, lay words and typos reach the passages their plain forms reach,
and a real word the corpus never uses is left alone (so an unanswerable question still abstains)."""

from __future__ import annotations

import pytest

from chatbot.spelling import Speller
from chatbot.text import Lexicon

CORPUS_WORDS = ["leiomyomatosis", "symptoms", "recurrence", "different", "survived", "hysterectomy"]


@pytest.fixture(scope="module")
def speller():
    return Speller(CORPUS_WORDS)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("leiomyomatosys", "leiomyomatosis"), ("simptoms", "symptoms"), ("recurance", "recurrence"),
     ("diffrent", "different"), ("hysterectomey", "hysterectomy")],
)  # fmt: skip
def test_misspelt_words_are_corrected_to_the_corpus_word(speller, typed, meant):
    assert speller.correct(f"what about {typed}??") == f"what about {meant}??"


@pytest.mark.parametrize("word", ["survival", "principal", "outlook", "France", "sx"])
def test_real_english_words_and_abbreviations_are_left_alone(speller, word):
    assert speller.correct(f"{word} of IVL") == f"{word} of IVL"


@pytest.mark.parametrize(
    ("shorthand", "plain"),
    [("sx", "symptoms"), ("dx", "diagnosis"), ("ddx", "differential"), ("f/u", "follow"), ("hyst", "hysterectomy"),
     ("outlook", "prognosis"), ("tablet", "therapy")],
)  # fmt: skip
def test_shorthand_and_lay_words_expand_to_the_corpus_words(shorthand, plain):
    assert plain in Lexicon.load().expand(f"{shorthand} in IVL?")


def test_a_shorthand_question_is_searched_like_its_plain_form(built_index, embeddings):
    from chatbot.answerer import Answerer

    answerer = Answerer(built_index, embeddings)
    top = lambda q: {d.metadata["chunk_id"] for d in answerer.retrieve(q).ranked[:3]}  # noqa: E731
    assert top("presenting sx of IVL?") & top("What are the symptoms of IVL?")
    assert answerer.retrieve("48F, what are the simptoms?").query.startswith("48-year-old woman")
