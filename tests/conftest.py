"""Shared fixtures: the real embedding model loaded once, and settings that point every test at a temp dir."""

from __future__ import annotations

import shutil
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from ivl.settings import load_settings
from ivl_index.settings import REPO_ROOT

CORPUS = REPO_ROOT / "corpus"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_url(url: str, seconds: float) -> str:
    """The body of `url` once a server we started answers it; a TimeoutError after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return urllib.request.urlopen(url, timeout=2).read().decode(errors="replace")
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {seconds:g} s") from None
            time.sleep(0.25)


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, driven by Playwright (never `playwright install`: it downloads a browser)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: `apt-get install chromium` (make test does this)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def shared_encoders(tmp_path_factory) -> Path:
    """One ONNX copy of the model for the whole run: ingest makes it once per model, not per data folder
    (tests of the copy itself point IVL_ENCODER_DIR elsewhere)."""
    return tmp_path_factory.mktemp("encoders")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch, shared_encoders):
    """No test reads the developer's .env or writes into the working tree."""
    for key in list(__import__("os").environ):
        if key.startswith("IVL_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IVL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("IVL_ENCODER_DIR", str(shared_encoders))


@pytest.fixture(scope="session")
def embeddings():
    from ivl_index.embeddings import ModelEmbeddings

    return ModelEmbeddings(load_settings().embedding_model)


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=tmp_path / "data")


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A private copy of the corpus that a test may edit, without the editor's notes: these tests edit the GARD
    case count, a noted sentence, and the notes' own check has its own test (test_ingest.py)."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target, ignore=shutil.ignore_patterns("notes.yaml"))
    return target


@pytest.fixture(scope="session")
def built_index(tmp_path_factory, embeddings, shared_encoders):
    """One index of the real corpus, shared by read-only tests."""
    from ingest.pipeline import run_ingest

    data = tmp_path_factory.mktemp("index")
    settings = load_settings(data_dir=data, encoder_dir=shared_encoders)
    run_ingest(settings, embeddings=embeddings, progress=False)
    return settings
