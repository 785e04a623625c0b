"""The chat's handlers without a server: what each turn renders, what feedback writes, what stays inert."""

from __future__ import annotations

import json

import pytest

from chatbot.answerer import Answerer
from ivl.settings import load_settings
from ivl.ui import CLINICIAN, STUDENT, FeedbackLog, Handlers, render_section, source_documents


@pytest.fixture(scope="module")
def answerer(built_index, embeddings):
    return Answerer(built_index, embeddings)


@pytest.fixture
def handlers(answerer, tmp_path):
    return Handlers(answerer, load_settings(data_dir=tmp_path), feedback=FeedbackLog(tmp_path / "feedback.jsonl"))


def ask(handlers, question, session=None, view=CLINICIAN, history=None):
    *_, last = handlers.respond(question, history or [], view, session or Handlers.new_session())
    return last


def test_answer_shows_markers_and_numbered_sources_with_links_and_quotes(handlers):
    history, box, session = ask(handlers, "How is IVL treated?")
    reply = history[-1]["content"]
    assert box == "" and history[-2] == {"role": "user", "content": "How is IVL treated?"}
    assert "[1]" in reply and "<b>Sources</b>" in reply
    assert 'href="https://rarediseases.info.nih.gov/diseases/10802/intravenous-leiomyomatosis"' in reply or 'href="https://doi.org/10.3892/etm.2026.13183"' in reply
    assert "<details><summary>Quoted passage [1]</summary><blockquote>" in reply
    assert session["questions"] == ["How is IVL treated?"]


def test_abstention_looks_different(handlers):
    reply = ask(handlers, "What is the capital of France?")[0][-1]["content"]
    assert reply.startswith("> ⓘ **Not in the sources.**") and "Sources" not in reply


def test_follow_up_uses_this_sessions_questions(handlers):
    _, _, session = ask(handlers, "What is the recurrence rate after myomectomy alone?")
    history, _, _ = ask(handlers, "and after radical surgery?", session)
    assert "7.6%" in history[-1]["content"]


def test_sessions_do_not_share_conversations(handlers):
    _, _, alice = ask(handlers, "What is the recurrence rate after myomectomy alone?")
    _, _, bob = ask(handlers, "How is IVL treated?")
    assert alice["questions"] == ["What is the recurrence rate after myomectomy alone?"]
    assert bob["questions"] == ["How is IVL treated?"]


def test_student_view_adds_marked_definitions(handlers):
    clinician = ask(handlers, "What is the recurrence rate after myomectomy alone?")[0][-1]["content"]
    student = ask(handlers, "What is the recurrence rate after myomectomy alone?", view=STUDENT)[0][-1]["content"]
    assert "Terms explained" not in clinician
    assert "Terms explained" in student and "<i>Definition:</i>" in student and "not claims from the sources" in student
    assert student.startswith(clinician.split("<div")[0].strip())  # the same cited facts


@pytest.mark.parametrize(("question", "message"), [("", "Ask a question"), ("   ", "Ask a question"), ("x" * 5000, "limit is 2,000")])
def test_bad_input_gets_a_clear_message(handlers, question, message):
    history, _, session = ask(handlers, question)
    assert message in history[-1]["content"] and session["questions"] == []


def test_script_and_image_payloads_are_escaped(handlers):
    payload = "<script>alert(1)</script><img src=x onerror=alert(2)> ![x](http://example.com/x.png) What is IVL?"
    history, _, _ = ask(handlers, payload)
    shown = history[-2]["content"]
    # Every character that could open a tag, an image or a link is backslash-escaped, so Markdown prints it.
    assert all(shown[i - 1] == "\\" for i, ch in enumerate(shown) if ch in "<>![")


def test_feedback_is_appended_and_survives_a_new_log(handlers, tmp_path):
    history, _, session = ask(handlers, "How is IVL treated?")
    assert handlers.record_feedback(len(history) - 1, True, session).startswith("Thanks")
    again = Handlers(handlers.answerer, handlers.settings, feedback=FeedbackLog(tmp_path / "feedback.jsonl"))
    again.record_feedback([len(history) - 1], False, session)
    lines = [json.loads(line) for line in (tmp_path / "feedback.jsonl").read_text().splitlines()]
    assert [entry["verdict"] for entry in lines] == ["up", "down"]
    assert {"question", "answer", "citations", "verdict", "time"} <= lines[0].keys()


def test_no_question_is_written_without_feedback(answerer, tmp_path):
    quiet = Handlers(answerer, load_settings(data_dir=tmp_path / "d", feedback=False), feedback=None)
    ask(quiet, "How is IVL treated?")
    assert quiet.record_feedback(1, True, Handlers.new_session()) == ""
    assert not (tmp_path / "d").exists()


def test_sources_tab_reads_documents_with_licence_and_marks_unindexed_sections(answerer):
    docs = {d.source_id: d for d in source_documents(answerer)}
    assert set(docs) == {"gard-ivl", "zhao-tian-2026"}
    page = render_section(docs["zhao-tian-2026"], "References")
    assert "CC BY-NC-ND 4.0" in page and "answers do not quote it" in page
    assert "https://doi.org/10.3892/etm.2026.13183" in page


def test_study_shows_the_brief_and_the_cited_answer(handlers):
    from evals.labelled import load_items

    items = {i.question: i for i in load_items() if i.study}
    text = handlers.study("What is the median age of patients with IVL?", "about 40", items)
    assert "**Your answer:** about 40" in text and "45" in text and "<b>Sources</b>" in text


def test_an_editors_note_is_shown_under_its_citation_marked_as_the_editors(answerer):
    from ivl.ui import render_sources

    answer = answerer.answer("How many cases of IVL have been reported?")
    html = render_sources(answer)
    assert "Editor&#x27;s note</b> (not the source&#x27;s words)" in html or "Editor's note</b> (not the source's words)" in html
    assert "2026 case report gives ~800" in html
