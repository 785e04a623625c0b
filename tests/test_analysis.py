"""What a question asks for, as the ranker and abstention read it: kinds, the case, the sources, parts."""

from __future__ import annotations

import pytest

from chatbot.analysis import analyse
from chatbot.disagreement import figures, like


@pytest.mark.parametrize(
    ("question", "kind"),
    [("How many cases have been reported?", "quantity"), ("What is IVL?", "definition"),
     ("Is IVL hereditary?", "yes_no"), ("Why is IVL called borderline?", "why"),
     ("How does IVL differ from leiomyosarcoma?", "comparison"), ("What are the symptoms?", "list")],
)  # fmt: skip
def test_the_kind_of_answer_a_question_wants(question, kind):
    assert kind in analyse(question).kinds


def test_questions_about_the_case_and_about_the_sources_are_told_apart():
    assert analyse("what did the pt receive post-op?").about_case
    assert not analyse("What is the usual treatment of IVL?").about_case
    assert analyse("GARD page - date of last update?").about_sources
    assert analyse("who wrote the article").about_sources
    assert not analyse("When was IVL first described?").about_sources  # a date, but of the disease's history


def test_a_two_part_question_has_two_parts():
    assert len(analyse("Index case: age + chief complaint?").parts) == 2
    assert len(analyse("What is IVL and how is it treated?").parts) == 2
    assert len(analyse("What is IVL?").parts) == 1


def test_only_figures_of_the_same_thing_disagree():
    (cases_gard,) = figures("IVL is rare, with only about 200 cases reported in the medical literature.")
    (cases_zhao,) = figures("It remains a clinically rare entity, with only ~800 cases documented to date.")
    assert like(cases_gard, cases_zhao)
    (age,) = figures("The median age was 45 years at diagnosis.")
    (follow_up,) = figures("Patients were followed up for 10 years after surgery.")
    assert not like(age, follow_up)
