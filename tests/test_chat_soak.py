"""A chat that stays as fast and as small after use as when it started (issue 24, item 16): a few clients keep
one conversation each going for rounds of four seconds; the last round answers about as many questions as the first,
and the server's memory stops growing once conversations reach IVL_CHAT_MAX_TURNS."""

from __future__ import annotations

import resource
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from chatbot.answerer import Answerer
from ivl.ui import serve
from tests.conftest import free_port

CLIENTS, ROUNDS, SECONDS, TURNS = 3, 3, 4, 20
QUESTIONS = ["How is IVL treated?", "What is the recurrence rate after myomectomy?", "What are the symptoms of IVL?"]


def rss_mb() -> float:
    """This process's resident memory now (the server runs in it)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


@pytest.mark.slow
def test_throughput_and_memory_stay_flat_over_rounds_of_long_conversations(built_index, embeddings):
    from gradio_client import Client

    settings = built_index.model_copy(update={"chat_port": free_port(), "chat_max_turns": TURNS})
    demo = serve(Answerer(settings, embeddings), settings, prevent_thread_lock=True, quiet=True)
    try:
        clients = [Client(f"http://127.0.0.1:{settings.chat_port}/", verbose=False) for _ in range(CLIENTS)]
        answered, memory, longest = [], [], [0]
        for _ in range(ROUNDS):
            deadline = time.monotonic() + SECONDS
            count, lock = [0], threading.Lock()

            def converse(client, deadline=deadline, count=count, lock=lock):
                i = 0
                while time.monotonic() < deadline:
                    shown, _ = client.predict(QUESTIONS[i % len(QUESTIONS)], [], "Clinician", api_name="/ask")
                    i += 1
                    with lock:
                        count[0] += 1
                        longest[0] = max(longest[0], len(shown))

            with ThreadPoolExecutor(CLIENTS) as pool:
                list(pool.map(converse, clients))
            answered.append(count[0])
            memory.append(rss_mb())
    finally:
        demo.close()
    print(f"\nsoak: answered {answered} per {SECONDS} s round; RSS {[round(m) for m in memory]} MB")
    assert longest[0] <= 2 * TURNS  # a question and an answer per turn kept
    assert answered[-1] >= 0.7 * answered[0], answered
    assert memory[-1] - memory[0] < 30, memory
