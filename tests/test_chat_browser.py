"""The chat in headless Chromium (Debian's, driven by Playwright): what a clinician and a student see.

Never `playwright install`: the browser is the system's chromium. Gradio keeps an event stream open, so
pages are awaited by their elements, not by network idleness.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from chatbot.answerer import Answerer
from ivl.ui import serve
from tests.conftest import free_port, wait_for_url

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def chat_url(built_index, embeddings, tmp_path_factory):
    settings = built_index.model_copy(update={"chat_port": free_port(), "data_dir": built_index.data_dir})
    demo = serve(Answerer(settings, embeddings), settings, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{settings.chat_port}/"
    demo.close()


@pytest.fixture
def page(chat_url):
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: `apt-get install chromium` (.ci/run does this)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1400})
        hosts: set[str] = set()
        page.on("request", lambda request: hosts.add(urlparse(request.url).hostname or request.url.split(":")[0]))
        page.hosts = hosts
        page.set_default_timeout(30_000)
        page.goto(chat_url)
        page.locator("#question textarea").wait_for()
        yield page
        browser.close()


def ask(page, question: str, expect: str):
    """Send a question and wait for the new answer (the next bot row) to show `expect`; return that row."""
    before = page.locator("#chat .bot-row").count()
    page.locator("#question textarea").fill(question)
    page.locator("#send").click()
    row = page.locator("#chat .bot-row").nth(before)
    row.get_by_text(expect, exact=False).first.wait_for()
    return row


def test_clinician_asks_expands_a_quote_follows_up_and_student_view(page, tmp_path):
    assert page.get_by_text("It is not medical advice").is_visible()
    ask(page, "What is the recurrence rate after myomectomy alone?", "Quoted passage [1]")
    link = page.locator('#chat a[href="https://doi.org/10.3892/etm.2026.13183"]').first
    assert link.is_visible()
    quote = page.locator("#chat details blockquote").first
    assert not quote.is_visible()
    page.locator("#chat summary").first.click()
    assert quote.is_visible() and "75%" in quote.inner_text()

    assert "7.6%" in ask(page, "and after radical surgery?", "Quoted passage").inner_text()

    page.locator("#view").get_by_text("Student", exact=True).click()
    row = ask(page, "Why is bilateral oophorectomy suggested for IVL?", "Terms explained")
    assert row.get_by_text("Definition:").first.is_visible()

    shot = Path(os.environ.get("CHAT_SCREENSHOT", tmp_path / "chat.png"))
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert page.hosts <= {"127.0.0.1"}, page.hosts


def test_script_payload_stays_inert_and_loads_nothing(page):
    payload = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\"> ![x](http://example.com/x.png) What is IVL?"
    ask(page, payload, "Quoted passage [1]")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#chat").get_by_text("<script>window.__pwned=1</script>", exact=False).count() >= 1
    assert page.locator("#chat img[src='x'], #chat img[src*='example.com']").count() == 0
    assert page.hosts <= {"127.0.0.1"}, page.hosts


def test_empty_question_prompts_and_sources_tab_browses(page):
    page.locator("#send").click()
    page.locator("#chat .bot-row").last.get_by_text("Ask a question", exact=False).wait_for()
    page.get_by_role("tab", name="Sources").click()
    reader = page.locator("#reader")
    reader.get_by_text("Licence", exact=False).first.wait_for()
    page.get_by_label("Document").click()
    page.get_by_role("option", name="Intravenous leiomyomatosis of the uterus: A case report and literature review").click()
    reader.get_by_text("A case report and literature review", exact=False).first.wait_for()
    assert "doi.org/10.3892/etm.2026.13183" in reader.inner_text()
    assert page.hosts <= {"127.0.0.1"}, page.hosts


def test_ivl_chat_builds_the_index_and_serves_on_loopback(tmp_path):
    import subprocess
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


def test_student_studies_a_question_and_compares_with_the_cited_answer(page):
    page.get_by_role("tab", name="Study").click()
    page.locator("#study-question input").click()
    page.get_by_role("option", name="Who first described intravenous leiomyomatosis?").click()
    page.get_by_label("Your answer").fill("A German pathologist, in the 1890s")
    page.get_by_role("button", name="Show the answer").click()
    result = page.locator("#study-result")
    result.get_by_text("The cited answer", exact=False).wait_for()
    text = result.inner_text()
    assert "A German pathologist, in the 1890s" in text  # the student's own words, beside the sources'
    assert "Birck-Hirschfeld, in 1896" in text and "Quoted passage [1]" in text
    assert page.hosts <= {"127.0.0.1"}, page.hosts
