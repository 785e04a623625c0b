"""The house stays in order: answering loads none of ingest, and nothing below the top imports the CLI or chat."""

from __future__ import annotations

import subprocess
import sys

PROBE = "import {module}, sys; print(sorted({{m.split('.')[0] for m in sys.modules}} & {{'ingest', 'evals', 'ivl', 'gradio', 'torch'}}))"


def loaded_by(module: str) -> str:
    out = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_answering_loads_no_ingest_module_nor_the_layers_above_it():
    assert loaded_by("chatbot.answerer") == "[]"
    assert loaded_by("chatbot.llm") == "[]"


def test_ingest_loads_no_answering_module():
    out = subprocess.run(
        [sys.executable, "-c", "import ingest.pipeline, sys; print(sorted(m for m in sys.modules if m.startswith('chatbot')))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "[]"
