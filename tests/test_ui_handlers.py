"""The chat's handlers without a server: what each turn renders, what feedback writes, what stays inert."""

from __future__ import annotations

import json

import pytest

from chatbot.answerer import Answerer
from ivl.render import CLINICIAN, STUDENT, render_section
from ivl.settings import load_settings
from ivl.ui import FeedbackLog, Handlers, cited_place, source_documents


@pytest.fixture(scope="module")
def answerer(built_index, embeddings):
    return Answerer(built_index, embeddings)


@pytest.fixture
def handlers(answerer, tmp_path):
    return Handlers(answerer, load_settings(data_dir=tmp_path), feedback=FeedbackLog(tmp_path / "feedback.jsonl", 2**20))


def ask(handlers, question, session=None, view=CLINICIAN, history=None):
    *_, last = handlers.respond(question, history or [], view, session or Handlers.new_session())
    return last


def test_answer_shows_markers_and_numbered_sources_with_links_and_quotes(handlers):
    history, box, session = ask(handlers, "How is IVL treated?")
    reply = history[-1]["content"]
    assert box == "" and history[-2] == {"role": "user", "content": "How is IVL treated?"}
    assert "[1]" in reply and "<b>Sources</b>" in reply
    assert 'href="https://rarediseases.info.nih.gov/diseases/10802/intravenous-leiomyomatosis"' in reply or 'href="https://doi.org/10.3892/etm.2026.13183"' in reply
    assert '<a class="ivl-cite" href="#ivl-0-1">[1]</a>' in reply and '<details id="ivl-0-1" class="ivl-c">' in reply
    assert "<mark>" in reply and 'class="ivl-open" href="?doc=' in reply
    assert session["questions"] == ["How is IVL treated?"]


def test_abstention_looks_different(handlers):
    reply = ask(handlers, "What is the capital of France?")[0][-1]["content"]
    assert reply.startswith("> **Not in the sources.**") and "ivl-sources" not in reply and "[1]" not in reply
    # the closest passages, if any, are labelled as what they are
    assert "ivl-related" not in reply or "Closest passages — not an answer" in reply
    assert "ⓘ" not in reply  # the glyph Debian's fonts lack; the browser test checks every character against them


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
    assert "Terms explained" in student and "not claims from the sources" in student  # marked once, as a list
    assert student.startswith(clinician.split("<div")[0].strip())  # the same cited facts


def test_switching_view_redraws_the_whole_conversation(handlers):
    history, _, session = ask(handlers, "What is the recurrence rate after myomectomy alone?")
    assert "Terms explained" not in history[-1]["content"]
    redrawn = handlers.show(session, STUDENT)
    assert len(redrawn) == len(history) and "Terms explained" in redrawn[-1]["content"]


def test_one_source_cited_several_times_is_named_once_with_each_passage(handlers):
    history, _, session = ask(handlers, "What is the recurrence rate after myomectomy alone?")
    reply = history[-1]["content"]
    answer = session["turns"][-1]["answer"]
    titles = {c["title"] for c in answer["citations"]}
    assert len(answer["citations"]) > len(titles)  # the case report is cited more than once ...
    for title in titles:
        assert reply.count(f"<b>{title}</b>") == 1  # ... and named once
    assert reply.count('<details id="ivl-0-') == len(answer["citations"])


def test_a_citation_link_opens_its_document_section_with_the_quote_marked(handlers, answerer):
    history, _, session = ask(handlers, "What is the recurrence rate after myomectomy alone?")
    c = session["turns"][-1]["answer"]["citations"][0]
    docs = source_documents(answerer)
    doc, section, span = cited_place(docs, {"doc": c["source_id"], "at": str(c["start"]), "to": str(c["end"])})
    assert section == c["section"]
    page = render_section(doc, section, span)
    marked = page.split('<mark id="ivl-here">')[1].split("</mark>")[0]
    assert " ".join(marked.split()).replace("\\", "") == " ".join(c["quote"].split())
    assert cited_place(docs, {"doc": c["source_id"], "at": "x", "to": "1"}) is None
    assert cited_place(docs, {"doc": "nope", "at": "1", "to": "2"}) is None


def test_new_conversation_state_forgets_the_follow_up(handlers):
    _, _, session = ask(handlers, "What is the recurrence rate after myomectomy alone?")
    history, _, after = ask(handlers, "and after radical surgery?", Handlers.new_session())
    assert after["questions"] == ["and after radical surgery?"] and len(history) == 2


def test_what_a_term_means_is_answered_from_the_glossary_marked_as_a_definition(handlers):
    reply = ask(handlers, "What does adnexectomy mean?")[0][-1]["content"]
    assert "Definition: adnexectomy" in reply and "not from the sources" in reply
    assert "adnexa" in reply and "ovaries)" not in reply.split("</div>")[0]  # its own entry, not oophorectomy's


def test_copy_and_export_are_clean_markdown_with_numbered_references(handlers):
    import html as html_lib
    import re

    history, _, session = ask(handlers, "How many cases of IVL have been reported?")
    history, _, session = ask(handlers, "What does adnexectomy mean?", session)
    hidden = re.search(r'class="ivl-md" hidden title="([^"]*)"', history[1]["content"]).group(1)
    copied = html_lib.unescape(hidden)
    exported = handlers.export(session)
    for text in (copied, exported):
        assert "<" not in text and "\\" not in text  # no HTML, no Markdown escapes
        assert "References\n\n1. " in text and "https://" in text and "   > " in text
    assert "~800" in copied and "Editor's note (not the source's words)" in copied
    assert "## 1. How many cases of IVL have been reported?" in exported and "## 2. What does adnexectomy mean?" in exported
    assert "from this tool's glossary, not from the sources" in exported


@pytest.mark.parametrize(("question", "message"), [("???", "Ask a question"), ("x" * 5000, "limit is 2,000")])
def test_bad_input_gets_a_clear_message(handlers, question, message):
    history, _, session = ask(handlers, question)
    assert message in history[-1]["content"] and session["questions"] == []


@pytest.mark.parametrize("question", ["", "   \n", None])
def test_an_empty_question_adds_nothing_to_the_conversation(handlers, question):
    """Issue 25 item 5: an empty question left a "…" bubble with thumbs under it."""
    _, _, session = ask(handlers, "How is IVL treated?")
    history, box, after = ask(handlers, question, session)
    assert len(history) == 2 and after["turns"] == session["turns"] and box == ""


def test_a_follow_up_says_so_and_can_be_asked_on_its_own(handlers):
    """Issue 25 item 3: an answer the conversation shaped did not say so."""
    _, _, session = ask(handlers, "What is the recurrence rate after myomectomy alone?")
    history, _, session = ask(handlers, "and after radical surgery?", session)
    assert "Read as a follow-up to: “What is the recurrence rate after myomectomy alone?”" in history[-1]["content"]
    assert 'class="ivl-alone"' in history[-1]["content"] and 'title="and after radical surgery?"' in history[-1]["content"]
    assert "Read as a follow-up to: What is the recurrence rate after myomectomy alone?" in handlers.export(session)
    *_, (alone, session) = handlers.respond_alone("and after radical surgery?", CLINICIAN, session)
    assert len(alone) == 6 and "Read as a follow-up" not in alone[-1]["content"] and alone[-1]["content"] != history[-1]["content"]
    assert session["questions"][-1] == "and after radical surgery?"


def test_the_sources_own_reference_numbers_are_muted_and_the_glossary_unlabelled(handlers):
    """Issue 25 items 2 and 6: "(7.6% recurrence rate) (8). [1]" read as two kinds of reference; every term
    explained carried a "Definition:" label."""
    reply = ask(handlers, "What is the recurrence rate after myomectomy alone?", view=STUDENT)[0][-1]["content"]
    answer_part = reply.split('<div class="ivl-sources">')[0]
    assert "(7.6% recurrence rate) <span class=\"ivl-ref\"" in answer_part and ">(ref. 8)</span>. " in answer_part
    assert "rate) (8)" not in answer_part and "(7.6% recurrence rate) (8)." in reply  # the quote, verbatim
    assert "<b>myomectomy</b>: An operation" in reply and "Definition:" not in reply


def test_script_and_image_payloads_are_escaped(handlers):
    payload = "<script>alert(1)</script><img src=x onerror=alert(2)> ![x](http://example.com/x.png) What is IVL?"
    history, _, _ = ask(handlers, payload)
    shown = history[-2]["content"]
    # Every character that could open a tag, an image or a link is backslash-escaped, so Markdown prints it.
    assert all(shown[i - 1] == "\\" for i, ch in enumerate(shown) if ch in "<>![")


def test_feedback_is_confirmed_on_the_answer_and_a_comment_follows_a_thumbs_down(handlers, tmp_path):
    history, _, session = ask(handlers, "How is IVL treated?")
    shown, session, comment = handlers.record_feedback(len(history) - 1, True, session, CLINICIAN)
    assert not comment and "Thanks: your feedback was saved." in shown[-1]["content"]
    again = Handlers(handlers.answerer, handlers.settings, feedback=FeedbackLog(tmp_path / "feedback.jsonl", 2**20))
    shown, session, comment = again.record_feedback([len(history) - 1], False, session, CLINICIAN)
    assert comment and "What was wrong?" in shown[-1]["content"]
    shown, session = again.record_comment("cites the wrong year", session, CLINICIAN)
    assert "feedback and comment were saved" in shown[-1]["content"]
    lines = [json.loads(line) for line in (tmp_path / "feedback.jsonl").read_text().splitlines()]
    assert [entry["verdict"] for entry in lines] == ["down"]  # one record per answer: the latest verdict
    assert lines[-1]["comment"] == "cites the wrong year"
    assert {"turn", "question", "answer", "citations", "verdict", "time"} <= lines[0].keys()


def test_replayed_feedback_keeps_one_record_per_answer_and_a_full_file_says_so(answerer, tmp_path):
    """A thumbs-down replayed by a client wrote 13 MB in 30 s; now it replaces its record, and the file has a cap."""
    path = tmp_path / "feedback.jsonl"
    handlers = Handlers(answerer, load_settings(data_dir=tmp_path), feedback=FeedbackLog(path, 6000))
    history, _, session = ask(handlers, "How is IVL treated?")
    for i in range(300):
        handlers.record_feedback(len(history) - 1, i % 3 == 0, session, CLINICIAN)
    *_, (history, _, session) = handlers.respond("What is the recurrence rate after myomectomy?", [], CLINICIAN, session)
    shown, session, _ = handlers.record_feedback(len(history) - 1, False, session, CLINICIAN)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["question"] for r in records] == ["How is IVL treated?", "What is the recurrence rate after myomectomy?"]
    size = path.stat().st_size
    handlers.record_feedback(len(history) - 1, False, session, CLINICIAN)  # the same click again writes nothing
    assert path.stat().st_size == size

    *_, (history, _, session) = handlers.respond("What are the symptoms of IVL?", [], CLINICIAN, session)
    shown, session, comment = handlers.record_feedback(len(history) - 1, False, session, CLINICIAN)
    assert "feedback file is full" in shown[-1]["content"] and not comment
    assert path.stat().st_size == size <= 6000


def test_a_long_conversation_keeps_its_last_turns_only(answerer, tmp_path):
    """1,294 turns took 0.67 s a turn and a 4.9 MB response; the turns kept are bounded by IVL_CHAT_MAX_TURNS."""
    feedback = FeedbackLog(tmp_path / "feedback.jsonl", 2**20)
    handlers = Handlers(answerer, load_settings(data_dir=tmp_path, chat_max_turns=4), feedback=feedback)
    session = Handlers.new_session()
    for i in range(12):
        history, _, session = ask(handlers, f"How is IVL treated? ({i})", session)
    assert len(session["turns"]) == 4 and len(session["questions"]) <= 4 and len(history) == 8
    assert history[-2]["content"].endswith("(11)") and "(8)" in history[0]["content"]
    shown, session, _ = handlers.record_feedback(len(history) - 1, True, session, CLINICIAN)
    assert "Thanks" in shown[-1]["content"]  # feedback still finds the answer it is about
    assert json.loads((tmp_path / "feedback.jsonl").read_text())["question"] == "How is IVL treated? (11)"


def test_no_question_is_written_without_feedback(answerer, tmp_path):
    quiet = Handlers(answerer, load_settings(data_dir=tmp_path / "d", feedback=False), feedback=None)
    ask(quiet, "How is IVL treated?")
    assert quiet.record_feedback(1, True, Handlers.new_session(), CLINICIAN)[2] is False
    assert not (tmp_path / "d").exists()


def test_sources_tab_reads_documents_with_licence_and_marks_unindexed_sections(answerer):
    docs = {d.source_id: d for d in source_documents(answerer)}
    assert set(docs) == {"gard-ivl", "zhao-tian-2026"}
    page = render_section(docs["zhao-tian-2026"], "References")
    assert "CC BY-NC-ND 4.0" in page and "answers do not quote it" in page
    assert "https://doi.org/10.3892/etm.2026.13183" in page


@pytest.fixture(scope="module")
def study(answerer):
    from ivl.study import Study

    return Study(answerer)


def test_study_offers_only_questions_ask_answers_right_with_a_citation(handlers, study):
    from evals.labelled import load_items

    offered = study.offered
    assert 15 <= len(offered) <= len([i for i in load_items("tune") if i.study])
    for question, entry in offered.items():
        for fact in (f for f in entry.item.facts if f.vital):
            assert fact.found_in(entry.answer.answer), (question, fact.label)
    # asked exactly as the tab shows it, in a fresh Ask conversation: a cited answer, never a refusal
    for question in offered:
        reply = ask(handlers, question)[0][-1]["content"]
        assert "Not in the sources" not in reply and "[1]" in reply, question


def test_study_names_the_key_facts_a_students_answer_missed(handlers, study):
    text = handlers.study("What is the median age of patients with IVL?", "no idea", study)
    assert "**Your answer:** no idea" in text and "**Key facts you missed:** 45" in text and "<b>Sources</b>" in text
    text = handlers.study("Who first described intravenous leiomyomatosis?", "Birch-Hirschfeld, in 1896", study)
    assert "You stated every key fact" in text
    assert "shorten it" in handlers.study("Who first described intravenous leiomyomatosis?", "x" * 100_000, study)


def test_study_reads_a_paraphrase_for_meaning(handlers, study):
    """The reviewer's cases (issue 25): the sarcoma's separate lung nodules, and its mitoses, atypia and necrosis."""
    question = "How is IVL distinguished from uterine leiomyosarcoma?"
    text = handlers.study(question, "Sarcoma spreads to the lung in separate nodules, IVL grows continuously", study)
    assert "Key facts you stated:** non-continuous" in text and "missed" not in text
    text = handlers.study(question, "The sarcoma shows many mitoses, nuclear atypia and necrosis", study)
    assert "Key facts you stated:** non-continuous" in text


def test_study_calls_a_wrong_number_wrong_and_names_a_missing_key_quantity(handlers, study):
    question = "What is the recurrence rate after myomectomy?"
    text = handlers.study(question, "57% after myomectomy.", study)
    assert "Key facts you got wrong:** 75% after myomectomy (you wrote 57%; the sources say 75% [" in text
    text = handlers.study(question, "75%, so radical surgery is better.", study)
    assert "You stated every key fact" not in text and "Key facts you missed:** 7.6% after radical surgery" in text
    text = handlers.study("Who first described intravenous leiomyomatosis?", "Birch-Hirschfeld, in 1986", study)
    assert "you wrote 1986; the sources say 1896" in text


def test_study_reader_holds_its_measured_figures_on_the_held_out_answers(answerer):
    """The test answers (a second writer; never used to fit) read with the shipped cut: the figures measured when it
    was fitted (evals/student-reading.json: accuracy 0.712 against 0.533 for the patterns alone) are a floor."""
    from evals.labelled import load_items
    from evals.student import Reader, encoder, figures, load_answers, load_fit

    items = {i.id: i for i in load_items("tune") if i.study}
    reader, fit = Reader(items.values(), encoder(answerer.encoder)), load_fit()
    pairs, rows = [], load_answers("test")
    reader.prepare(row["answer"] for row in rows)
    for row in rows:
        read = reader.read(items[row["item"]], row["answer"], fit)
        pairs += [(truth, read[i].verdict) for i, truth in row["labels"].items() if i in read]
    got = figures(pairs)
    assert got["facts"] == 184
    assert got["accuracy"] >= 0.70 and got["stated_recall"] >= 0.83 and got["wrong_precision"] >= 0.8, got
    assert got["stated_precision"] >= 0.71 and got["wrong_recall"] >= 0.48, got


def test_an_editors_note_is_shown_under_its_citation_marked_as_the_editors(answerer):
    from ivl.render import render_sources

    answer = answerer.answer("How many cases of IVL have been reported?")
    html = render_sources(answer, "0", {})
    assert "Editor&#x27;s note</b> (not the source&#x27;s words)" in html or "Editor's note</b> (not the source's words)" in html
    assert "2026 case report gives ~800" in html


def test_a_refusal_offers_the_closest_passages_as_not_an_answer(handlers, answerer):
    """Issue 23 item 8: the refusal stays the fixed sentence, uncited; under it, the closest passages,
    labelled as not an answer, each opening the Sources tab at its place."""
    question = "Is IVL more common in people who drink coffee?"
    answer = answerer.answer(question)
    assert answer.abstained and not answer.citations and 1 <= len(answer.related) <= 3
    reply = ask(handlers, question)[0][-1]["content"]
    assert "Closest passages — not an answer" in reply and reply.count('class="ivl-open" href="?doc=') == len(answer.related)
    assert all(r.quote.split()[0] in reply for r in answer.related)
