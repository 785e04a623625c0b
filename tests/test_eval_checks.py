"""The eval's own checks, on hand-made answers that are wrong in one way each: every one must be caught."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from markupsafe import escape

from chatbot.answerer import Answerer
from chatbot.models import Answer, Citation
from evals.checks import check
from evals.labelled import Item, load_items
from evals.suite import THRESHOLDS, LintError, gated, index_chunks, lint
from tests.test_chat_browser import screenshot

RECURRENCE = "Post-IVL recurrence rates range from 16.6 to 30.0%, rendering long-term follow-up critical"
GARD_RARE = "IVL is rare, with only about 200 cases reported in the medical literature."
ITEM = Item(id="t", group="g", register="student", category="test", question="q", facts=[{"number": 16.6, "vital": True}], sources=["zhao-tian-2026"])


@pytest.fixture(scope="module")
def chunks(built_index, embeddings):
    return index_chunks(Answerer(built_index, embeddings))


def chunk_with(chunks, text):
    return next((cid, c) for cid, c in chunks.items() if text in c["text"])


def citation(chunks, n, quote, chunk_text=None, **override):
    cid, c = chunk_with(chunks, chunk_text or quote)
    fields = dict(n=n, source_id=c["source_id"], title="t", section=c["section"], date="d", url=c["url"], quote=quote, chunk_id=cid)
    return Citation(**(fields | override))


def full_sentence(chunks, start):
    cid, c = chunk_with(chunks, start)
    at = c["text"].index(start)
    return c["text"][at : c["text"].index(".", c["text"].index("%", at)) + 1]


def answer(sentences_and_markers, citations):
    text = " ".join(f"{s} {m}".strip() for s, m in sentences_and_markers)
    return Answer(question="q", answer=text, abstained=False, citations=citations, sentences=[s for s, _ in sentences_and_markers])


def test_a_correct_answer_passes(chunks):
    s = full_sentence(chunks, RECURRENCE)
    v = check(ITEM, answer([(s, "[1]")], [citation(chunks, 1, s)]), chunks)
    assert v.passed, v.problems


def test_wrong_citation_is_caught(chunks):
    s = full_sentence(chunks, RECURRENCE)
    v = check(ITEM, answer([(s, "[1]")], [citation(chunks, 1, GARD_RARE)]), chunks)
    assert not v.citation_faithful and not v.passed


def test_uncited_sentence_is_caught(chunks):
    s = full_sentence(chunks, RECURRENCE)
    v = check(ITEM, answer([(s, "[1]"), ("IVL is always fatal.", "")], [citation(chunks, 1, s)]), chunks)
    assert not v.citation_valid and not v.passed


def test_changed_number_is_caught(chunks):
    s = full_sentence(chunks, RECURRENCE)
    changed = s.replace("16.6", "61.6")
    v = check(ITEM, answer([(changed, "[1]")], [citation(chunks, 1, s)]), chunks)
    assert not v.citation_faithful and not v.facts_vital


def test_quote_from_the_wrong_source_is_caught(chunks):
    s = full_sentence(chunks, RECURRENCE)
    gard_id, gard = chunk_with(chunks, GARD_RARE)
    wrong = citation(chunks, 1, s, source_id="gard-ivl", url=gard["url"], chunk_id=gard_id)
    v = check(ITEM, answer([(s, "[1]")], [wrong]), chunks)
    assert not v.citation_faithful


def test_marker_without_citation_and_must_not_say_are_caught(chunks):
    s = full_sentence(chunks, RECURRENCE)
    item = ITEM.model_copy(update={"must_not_say": ["always fatal"]})
    v = check(item, answer([(s, "[1][2]")], [citation(chunks, 1, s)]), chunks)
    assert not v.citation_valid
    v = check(item, Answer(question="q", answer=f"{s} [1] It is always fatal.", abstained=False, citations=[citation(chunks, 1, s)], sentences=[s]), chunks)
    assert v.must_not_say == ["always fatal"] and not v.passed


def test_lint_fails_on_a_gold_quote_missing_from_the_corpus(chunks):
    assert lint(load_items(), chunks)  # the shipped set is clean
    broken = ITEM.model_copy(update={"gold": ["IVL was first described on the moon."]})
    with pytest.raises(LintError, match="t: IVL was first described on the moon"):
        lint((broken,), chunks)


@pytest.fixture(scope="module")
def evaluated(built_index, tmp_path_factory):
    """`ivl eval` run once on the shared index: (its output folder, the finished process)."""
    out = tmp_path_factory.mktemp("eval")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVL_")}  # set up before the per-test isolation
    env |= {"IVL_DATA_DIR": str(built_index.data_dir), "IVL_ENCODER_DIR": str(built_index.encoder_dir)}
    command = [sys.executable, "-m", "ivl", "eval", "--out", str(out)]
    return out, subprocess.run(command, capture_output=True, text=True, env=env, cwd=out)


@pytest.mark.slow
def test_ivl_eval_passes_then_fails_against_a_better_baseline(built_index, evaluated, tmp_path, monkeypatch):
    out, first = evaluated
    assert first.returncode == 0, first.stderr[-2000:]
    # The table is on stdout (`ivl eval > file` keeps it), each gated figure beside its threshold.
    assert "all thresholds met" in first.stdout and "all thresholds met" not in first.stderr
    limits = yaml.safe_load(THRESHOLDS.read_text())
    rows = {line.split("│")[1].strip(): line for line in first.stdout.splitlines() if line.count("│") > 3}
    for name, limit in limits["minimum"].items():
        assert f"≥ {limit}" in rows[name], rows[name]
    for name, limit in limits["maximum"].items():
        assert f"≤ {limit}" in rows[name], rows[name]
    results = json.loads((out / "results.json").read_text())
    assert {"hybrid", "dense", "bm25", "top-chunk", "top-sentences"} == set(results["variants"])
    for variant in results["variants"].values():  # tune and test apart, per register, with answer lengths
        for split in ("tune", "test"):
            assert set(variant["splits"][split]["registers"]) == {"clinician", "lay", "student"}
            for figures in [variant["splits"][split]["summary"], *variant["splits"][split]["registers"].values()]:
                assert {"answerable_right", "expected_source", "false_abstention_rate", "answer_words_median",
                        "answer_words_p90", "abstention_precision", "abstention_recall"} <= set(figures)  # fmt: skip
    assert results["manifest"]["corpus_sha256"] and results["manifest"]["embedding_model"]
    hybrid = results["variants"]["hybrid"]
    failing = next(q for q in hybrid["questions"]
                   if not q["passed"] and q["split"] == "test" and q["missing_facts"] and not q["abstained"])  # fmt: skip
    # The terminal ends with the failing test questions, each with the facts it missed, by name, and why.
    assert f"failing {failing['id']}" in first.stdout and failing["missing_facts"][0] in first.stdout
    assert "P(answerable)" in first.stdout.split(f"failing {failing['id']}")[1].split("failing ")[0]
    # Each question keeps its keys and adds why: the passages and their scores, the ranked sentences and their
    # probabilities, P(answerable) and the cut.
    assert {"id", "question", "answer", "abstained", "citations", "passed", "missing_facts", "problems"} < set(failing)
    why = failing["diagnostics"]
    assert why["passages"] and {"chunk_id", "rank", "similarity", "probability"} <= set(why["passages"][0])
    assert why["ranked"] and 0 <= why["ranked"][0]["probability"] <= 1
    assert 0 <= why["answerable"] <= 1 and 0 < why["answer_at"] < 1
    html = (out / "report.html").read_text()
    # The gate shows every gated figure beside its threshold, in the gate's colour.
    gate_part = html.split("<h2>Gate")[1].split("<h2>")[0]
    for name, limit in limits["minimum"].items():
        assert f'<tr class="ok"><td>{name}</td><td>{gated(results)[name]:.3f}</td><td>≥ {limit}</td>' in gate_part
    # A failing question opens, from the failure list's link, to why it failed.
    assert f'<a href="#{failing["id"]}">' in html and f'id="{failing["id"]}" open>' in html
    entry = html.split(f'id="{failing["id"]}"')[1].split("</details>")[0]
    assert f"P(answerable) {why['answerable']:.3f} against the cut {why['answer_at']:.3f}" in entry
    assert why["passages"][0]["chunk_id"] in entry and escape(why["ranked"][0]["text"]) in entry
    assert f"missing facts: {', '.join(failing['missing_facts'])}" in entry
    # Labels cannot contradict the problems: an abstention on an answerable question is said to be one.
    refused = next(q for q in hybrid["questions"] if q["expected_abstain"] is False and q["abstained"])
    entry = html.split(f'id="{refused["id"]}"')[1].split("</details>")[0]
    assert 'class="bad">abstained, but the sources answer it' in entry and "abstained on a question the sources answer" in entry
    assert ": no<" not in html and ": yes<" not in html
    head = html.split("<h2>Metrics by variant")[0]
    assert head.index("Gate") < head.index("by register") < head.index("Failing test questions")
    assert html.index("<h2>Manifest") > html.index("<h2>Questions") and 'id="only-failing"' in html
    assert "<mark>" in html and "<svg" in html and "http" not in head
    # A correct abstention is not shown as a failure.
    right = next(q for q in hybrid["questions"] if q["expected_abstain"] is True and q["abstained"])
    shown = html.split(f'id="{right["id"]}"')[1].split("</details>")[0]
    assert 'class="bad"' not in shown and 'class="ok">abstained, as it should' in shown
    # A baseline in which a test question that fails now had passed, and a metric was higher.
    failing["passed"] = True
    hybrid["splits"]["test"]["summary"]["key_fact_recall"] += 0.05
    (tmp_path / "better.json").write_text(json.dumps(results))
    # The same command against that baseline, in process, the suite's run handed back as it was (a second 40 s
    # run would test nothing more): what is tested is the comparison, the exit status and what goes where.
    from typer.testing import CliRunner

    import evals.suite
    from ivl.cli import app

    again = {k: v for k, v in json.loads((out / "results.json").read_text()).items() if k != "failures"}
    monkeypatch.setattr(evals.suite, "run_suite", lambda *_a, **_k: again)
    monkeypatch.setenv("IVL_DATA_DIR", str(built_index.data_dir))
    second = CliRunner().invoke(app, ["eval", "--out", str(tmp_path / "again"), "--baseline", str(tmp_path / "better.json"), "--json"])
    assert second.exit_code == 1, second.output
    assert json.loads(second.stdout)["failures"]  # --json: stdout is the JSON alone, the table on stderr
    assert f"question {failing['id']} passed in the baseline and fails now" in second.stderr
    assert "key_fact_recall fell" in second.stderr


@pytest.mark.slow
def test_the_report_in_a_browser_opens_a_failing_question_from_its_link(evaluated, browser, tmp_path):
    """Issue 25 item 8 as a maintainer sees it: the failure list's link opens that question's entry, in view,
    with why it failed; the gate shows each figure beside its threshold in the gate's colour; nothing is fetched."""
    out, first = evaluated
    assert first.returncode == 0, first.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    failing = next(q for q in results["variants"]["hybrid"]["questions"] if not q["passed"] and q["split"] == "test")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    fetched = []
    page.on("request", lambda r: fetched.append(r.url) if not r.url.startswith("file:") else None)
    page.goto((out / "report.html").as_uri())
    colours = {"ok": "rgb(17, 136, 102)", "bad": "rgb(204, 34, 34)"}  # green met, red failed
    for row in page.locator("tr.ok, tr.bad").all():
        assert row.evaluate("e => getComputedStyle(e.cells[1]).color") == colours[row.get_attribute("class")]
    page.locator(f'a[href="#{failing["id"]}"]').first.click()
    entry = page.locator(f'details[id="{failing["id"]}"]')
    assert entry.evaluate("e => e.open")
    page.wait_for_function(
        f"() => {{ const r = document.getElementById({json.dumps(failing['id'])}).getBoundingClientRect(); "
        "return r.top >= 0 && r.top < innerHeight; }"
    )
    assert "P(answerable)" in entry.inner_text() and entry.get_by_text("P(answerable)").first.is_visible()
    screenshot(page, "report-failing.png", tmp_path)
    assert fetched == []
    page.close()
