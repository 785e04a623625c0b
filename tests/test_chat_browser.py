"""The chat in headless Chromium (Debian's, driven by Playwright): what a clinician and a student see and do.

Never `playwright install`: the browser is the system's chromium. Gradio keeps an event stream open, so
pages are awaited by their elements, not by network idleness. With CHAT_SCREENSHOTS=DIR (`make screenshot`)
the tests save the README's screenshots there.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

from chatbot.answerer import Answerer
from ivl.ui import serve
from tests.conftest import free_port, wait_for_url

pytestmark = pytest.mark.slow

RECURRENCE = "What is the recurrence rate after myomectomy alone?"


@pytest.fixture(scope="module")
def chat_url(built_index, embeddings, tmp_path_factory):
    settings = built_index.model_copy(update={"chat_port": free_port(), "data_dir": built_index.data_dir})
    demo = serve(Answerer(settings, embeddings), settings, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{settings.chat_port}/"
    demo.close()


@pytest.fixture
def open_page(browser, chat_url):
    """open_page(width, height, path="") -> a page of the chat in a fresh context (a new session); every request
    it makes is recorded in page.hosts."""
    contexts = []

    def opener(width: int = 1280, height: int = 1000, path: str = ""):
        context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=chat_url.rstrip("/"))
        contexts.append(context)
        page = context.new_page()
        hosts: set[str] = set()
        page.on("request", lambda request: hosts.add(urlparse(request.url).hostname or request.url.split(":")[0]))
        page.hosts = hosts
        page.set_default_timeout(30_000)
        page.goto(chat_url + path)
        # A link to a cited place opens the Sources tab, which hides the question box: wait for it to exist.
        page.locator("#question textarea").wait_for(state="attached" if path else "visible")
        return page

    yield opener
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page):
    return open_page()


def ask(page, question: str, expect: str):
    """Send a question and wait for the new answer (the next bot row) to show `expect`; return that row."""
    before = page.locator("#chat .bot-row").count()
    page.locator("#question textarea").fill(question)
    page.locator("#send").click()
    row = page.locator("#chat .bot-row").nth(before)
    row.get_by_text(expect, exact=False).first.wait_for()
    return row


def in_view(page, row) -> None:
    """Wait until the top of `row` is on the screen, with the question box visible below it."""
    row.evaluate("""(r) => new Promise((done, fail) => {
      const box = document.querySelector("#question textarea");
      const ok = () => { const t = r.getBoundingClientRect().top, b = box.getBoundingClientRect();
                         return t >= 0 && t < b.top && b.bottom <= innerHeight; };
      const start = Date.now();
      const tick = () => ok() ? done() : Date.now() - start > 3000
        ? fail(`answer top ${r.getBoundingClientRect().top}, window ${innerHeight}`) : requestAnimationFrame(tick);
      tick();
    })""")


def screenshot(page, name: str, tmp_path: Path, **kwargs) -> Path:
    folder = Path(os.environ.get("CHAT_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), **kwargs)
    return folder / name


def unrenderable(text: str) -> set[str]:
    """Characters of `text` that no installed font has (they would show as empty boxes), by fontconfig."""
    missing = set()
    for ch in {c for c in text if ord(c) > 0x7E and not c.isspace()}:
        found = subprocess.run(["fc-list", f":charset={ord(ch):x}", "family"], capture_output=True, text=True).stdout
        if not found.strip():
            missing.add(ch)
    return missing


def test_clinician_opens_a_citation_in_place_and_the_sources_tab_at_the_quote(open_page, tmp_path):
    page = open_page(1280, 1000)
    assert page.get_by_text("It is not medical advice").is_visible()
    row = ask(page, RECURRENCE, "Sources")
    assert page.locator('#chat a[href="https://doi.org/10.3892/etm.2026.13183"]').first.is_visible()
    # The case report's own reference "(8)" is shown muted as "(ref. 8)", not as a second [n].
    ref = row.locator(".ivl-ref", has_text="(ref. 8)")
    assert ref.count() == 1 and "rate) (8)" not in row.locator(".message-content").inner_text()
    assert ref.evaluate("e => getComputedStyle(e).color") != row.locator("a.ivl-cite").first.evaluate("e => getComputedStyle(e).color")
    # One document cited several times is named once, its citations listed under it.
    title = "Intravenous leiomyomatosis of the uterus: A case report and literature review"
    assert row.locator(".ivl-doc > b", has_text=title).count() == 1 and row.locator("details.ivl-c").count() >= 2
    screenshot(page, "chat-clinician.png", tmp_path)

    passage = row.locator("details.ivl-c").nth(1).locator(".ivl-passage")
    assert not passage.is_visible()
    row.locator("a.ivl-cite", has_text="[2]").click()  # [2] in the answer opens citation 2 in place
    passage.wait_for(state="visible")
    mark = passage.locator("mark")
    assert "75% recurrence" in mark.inner_text() and len(passage.inner_text()) > len(mark.inner_text()) + 100
    assert mark.evaluate("m => getComputedStyle(m).backgroundColor") != "rgba(0, 0, 0, 0)"  # highlighted
    screenshot(page, "citation-opened.png", tmp_path)

    href = row.locator("details.ivl-c").nth(1).locator("a.ivl-open").get_attribute("href")
    sources = open_page(1280, 1000, href)  # the link opens the Sources tab at the cited place
    here = sources.locator("#reader mark#ivl-here")
    here.wait_for()
    assert "75% recurrence" in here.inner_text()
    assert sources.locator("#reader").get_by_text("Discussion").first.is_visible()
    sources.wait_for_function("() => { const r = document.getElementById('ivl-here').getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }")
    screenshot(sources, "sources-at-citation.png", tmp_path)
    assert page.hosts | sources.hosts <= {"127.0.0.1"}, page.hosts | sources.hosts


def test_copy_and_export_give_clean_markdown_with_references(page):
    ask(page, "How many cases of IVL have been reported?", "Sources")
    page.locator("#chat .bot-row").last.hover()
    page.locator('#chat button[aria-label="Copy message"]').last.click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "~800" in copied and "\\~" not in copied and "<" not in copied
    assert re.search(r"References\n\n1\. .+\. \d{4}[-\d]*\. https://\S+\n   > ", copied), copied
    assert "Editor's note (not the source's words)" in copied

    with page.expect_download() as download:
        page.locator("#export").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert download.value.suggested_filename == "ivl-conversation.md"
    assert "## 1. How many cases of IVL have been reported?" in exported and "<" not in exported
    assert copied.split("References")[0].strip() in exported


def test_new_conversation_clears_the_screen_and_the_follow_up_history(open_page):
    fresh = open_page()
    alone = ask(fresh, "and after radical surgery?", "Sources").locator(".message-content").inner_text()
    page = open_page()
    ask(page, RECURRENCE, "Sources")
    row = ask(page, "and after radical surgery?", "Sources")
    in_view(page, row)  # the page follows the conversation to the new answer
    follow = row.locator(".message-content").inner_text()
    assert follow != alone and f"Read as a follow-up to: “{RECURRENCE}”" in follow  # it read the conversation, and says so
    row.get_by_text("Ask it on its own").click()
    third = page.locator("#chat .bot-row").nth(2)
    third.get_by_text("Sources").first.wait_for()
    in_view(page, third)
    assert third.locator(".message-content").inner_text() == alone
    assert page.locator('#chat button[aria-label="Clear"]').filter(visible=True).count() == 0  # one clear control
    page.locator("#new-conversation").click()
    page.wait_for_function("() => document.querySelectorAll('#chat .bot-row').length === 0")
    again = ask(page, "and after radical surgery?", "Sources").locator(".message-content").inner_text()
    assert again == alone


def test_student_view_redraws_earlier_answers_and_defines_a_term(page, tmp_path):
    first = ask(page, "Why is bilateral oophorectomy suggested for IVL?", "Sources")
    assert first.get_by_text("Terms explained").count() == 0
    page.locator("#view").get_by_text("Student", exact=True).click()
    page.locator("#chat .bot-row").first.get_by_text("Terms explained").wait_for()  # the earlier answer, redrawn
    assert "Definition:" not in page.locator("#chat .ivl-glossary").first.inner_text()  # no label on every term
    row = ask(page, "What does adnexectomy mean?", "Definition: adnexectomy")
    assert row.get_by_text("from this tool's glossary, not from the sources").is_visible()
    assert "adnexa" in row.locator(".ivl-def").inner_text()
    screenshot(page, "chat-student.png", tmp_path, full_page=True)
    assert page.hosts <= {"127.0.0.1"}, page.hosts


def test_phone_width_keeps_the_question_box_in_view_and_confirms_feedback_beside_the_thumbs(open_page, tmp_path):
    page = open_page(390, 844)
    box = page.locator("#question textarea")
    visible = "(e) => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }"
    assert box.evaluate(visible), box.bounding_box()
    assert page.locator("#tabs").bounding_box()["y"] <= 844 / 4  # the title and view selector: a quarter at most
    first = ask(page, "How is IVL treated?", "Sources")
    assert first.locator(".message-content").bounding_box()["width"] >= 0.9 * page.locator("#chat").bounding_box()["width"]
    in_view(page, ask(page, RECURRENCE, "Sources"))  # the page follows to the new answer
    page.locator("#chat .bot-row").first.scroll_into_view_if_needed()
    assert box.evaluate(visible), box.bounding_box()  # still in view with a long conversation above it
    screenshot(page, "chat-phone.png", tmp_path)

    last = page.locator("#chat .bot-row").last
    last.scroll_into_view_if_needed()
    page.locator('#chat button[aria-label="Dislike"]').last.click()
    confirm = page.locator("#chat .bot-row").last.locator(".ivl-feedback")
    confirm.wait_for()
    assert "What was wrong?" in confirm.inner_text()
    thumbs = page.locator('#chat button[aria-label="Dislike"]').last.bounding_box()
    note = confirm.bounding_box()
    assert abs(thumbs["y"] - (note["y"] + note["height"])) < 80  # the confirmation sits just above the thumbs
    page.locator("#comment textarea").fill("The second source is older")
    page.locator("#send-comment").click()
    page.locator("#chat .bot-row").last.get_by_text("your feedback and comment were saved").wait_for()
    assert not page.locator("#comment-row").is_visible()


def test_a_refusal_lists_the_closest_passages_each_opening_at_its_place(open_page, tmp_path):
    page = open_page(1280, 1000)
    row = ask(page, "Is IVL more common in people who drink coffee?", "Closest passages — not an answer")
    assert row.get_by_text("Not in the sources", exact=False).first.is_visible()
    assert row.locator("a.ivl-cite").count() == 0 and row.locator(".ivl-sources").count() == 0  # nothing cited
    items = row.locator(".ivl-related li")
    assert 1 <= items.count() <= 3 and items.first.is_visible()
    screenshot(page, "refusal-closest.png", tmp_path)
    quote = items.first.inner_text().split("“")[1].split("”")[0]
    sources = open_page(1280, 1000, items.first.locator("a.ivl-open").get_attribute("href"))
    here = sources.locator("#reader mark#ivl-here")
    here.wait_for()  # the passage opens in the Sources tab at its place, marked
    assert " ".join(quote.split()[:6]) in " ".join(here.inner_text().split())
    assert page.hosts | sources.hosts <= {"127.0.0.1"}, page.hosts | sources.hosts


def test_no_glyph_on_the_page_is_missing_from_the_installed_fonts(page):
    ask(page, "What is the capital of France?", "Not in the sources")
    ask(page, "How many cases of IVL have been reported?", "Sources")
    assert unrenderable(page.locator("body").inner_text()) == set()


def test_script_payload_stays_inert_and_loads_nothing(page):
    payload = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\"> ![x](http://example.com/x.png) What is IVL?"
    ask(page, payload, "Sources")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#chat").get_by_text("<script>window.__pwned=1</script>", exact=False).count() >= 1
    assert page.locator("#chat img[src='x'], #chat img[src*='example.com']").count() == 0
    assert page.hosts <= {"127.0.0.1"}, page.hosts


def test_empty_question_adds_nothing_and_sources_tab_browses(page):
    with page.expect_response(lambda r: "/gradio_api/queue/data" in r.url):
        page.locator("#send").click()
    page.wait_for_timeout(500)
    assert page.locator("#chat .message-row").count() == 0  # no "…" bubble with thumbs under it
    page.get_by_role("tab", name="Sources").click()
    reader = page.locator("#reader")
    reader.get_by_text("Licence", exact=False).first.wait_for()
    page.get_by_label("Document").click()
    page.get_by_role("option", name="Intravenous leiomyomatosis of the uterus: A case report and literature review").click()
    reader.get_by_text("A case report and literature review", exact=False).first.wait_for()
    assert "doi.org/10.3892/etm.2026.13183" in reader.inner_text()
    assert page.hosts <= {"127.0.0.1"}, page.hosts


def test_student_studies_and_is_told_what_was_stated_missed_or_wrong(page):
    """Issue 25 item 7: a paraphrase gets credit, a wrong number is shown wrong with the sources' value, and the
    dropdown offers no question that Ask refuses."""
    page.get_by_role("tab", name="Study").click()
    page.locator("#study-question input").click()
    options = page.get_by_role("option").all_inner_texts()
    assert "What dose of leuprolide was given to the patient after surgery?" not in options  # refused in Ask today
    page.get_by_role("option", name="How is IVL distinguished from uterine leiomyosarcoma?").click()
    page.get_by_label("Your answer").fill("Sarcoma spreads to the lung in separate nodules, IVL grows continuously")
    page.get_by_role("button", name="Check my answer").click()
    result = page.locator("#study-result")
    result.get_by_text("The cited answer", exact=False).wait_for()
    text = result.inner_text()
    assert "separate nodules" in text  # the student's own words, beside the sources'
    assert "Key facts you stated: non-continuous" in text and "missed" not in text and "Sources" in text
    page.locator("#study-question input").click()
    page.get_by_role("option", name="What is the recurrence rate after myomectomy?").click()
    page.get_by_label("Your answer").fill("57% after myomectomy")
    page.get_by_role("button", name="Check my answer").click()
    result.get_by_text("you wrote 57%", exact=False).wait_for()
    text = result.inner_text()
    assert "Key facts you got wrong: 75% after myomectomy (you wrote 57%; the sources say 75% [" in text
    assert "Key facts you missed: 7.6% after radical surgery" in text
    assert page.hosts <= {"127.0.0.1"}, page.hosts


def test_ivl_chat_builds_the_index_and_serves_on_loopback(tmp_path):
    import sys

    port = free_port()
    env = {**os.environ, "IVL_DATA_DIR": str(tmp_path / "data"), "IVL_CHAT_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "ivl", "chat"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "<html" in wait_for_url(f"http://127.0.0.1:{port}/", 120)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert "No index yet: building it" in output
    assert f"http://127.0.0.1:{port}" in output
