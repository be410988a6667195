"""The chat page: ask the articles, read cited answers, open every citation in its source.

A thin layer over ``retrieval.Engine``. Document text and answers are always escaped
Markdown (``retrieval.ui.render``), never HTML. Run with ``make run`` or
``streamlit run app.py``; settings come from ``RETRIEVAL_*`` environment variables.
"""

from __future__ import annotations

import gc
import logging
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st
from pydantic import ValidationError

from retrieval import Engine, IndexSnapshot, Passage, RetrievalError, Settings
from retrieval.answer.conversation import (
    ConversationStore,
    new_session_id,
    unresolved_pronoun,
    valid_session_id,
)
from retrieval.config import LLMSettings, locations
from retrieval.environment import set_offline_environment
from retrieval.ingest.corpus import REMOVED_DIR, remove_document, save_upload
from retrieval.ingest.load import SUPPORTED_SUFFIXES, source_metadata
from retrieval.search.hybrid import clean_query
from retrieval.types import Answer, Citation
from retrieval.ui.export import conversation_markdown, renumbered
from retrieval.ui.render import (
    absolute_link,
    answer_markdown,
    deep_link,
    escape_markdown,
    parse_highlight,
    passage_markdown,
)

# Before the model libraries load (in get_engine; none of the imports above loads them).
set_offline_environment()
log = logging.getLogger("retrieval.app")
ABSTAIN_TITLE = "Not in the articles."
_DONT_SAY = re.compile(r"^\s*the articles don['’]t say\s*[.:;,]?\s*", re.IGNORECASE)
_WEB_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d+)?(?:/[^\s<>\\]*)?", re.IGNORECASE)
SESSION_PARAM = "c"   # the URL parameter holding the conversation's id
FILTER_HINT = " Clear “Only these documents” in the sidebar to search every document."


@dataclass(frozen=True)
class Options:
    page: str
    k: int
    docs: list[str]
    llm: bool
    export_box: Any = None


# ------------------------------------------------------------------ engine, errors
@st.cache_resource(show_spinner="Loading the model and the index…")
def get_engine(settings_json: str) -> Engine:
    """One Engine (model and index) per process and settings."""
    engine = Engine(Settings.model_validate_json(settings_json))
    engine.preload()  # the model, WordNet and the gazetteer: here, not on the first question
    # These live as long as the process. Frozen, their millions of objects are no longer
    # walked by the garbage collector at every full collection, which otherwise takes most of
    # the time of a page run when many sessions are open (docs/experiments.md).
    gc.freeze()
    return engine


def one_line(err: BaseException) -> str:
    """An error as the single line the page shows."""
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        return f"setting {'.'.join(map(str, first['loc']))}: {first['msg']}"
    if isinstance(err, RetrievalError):
        return " ".join(str(err).split())
    text = " ".join(str(err).split())[:200].rstrip(".")
    return (f"unexpected {type(err).__name__}: {text}. The page hit a fault of its own, not "
            "of your input: try again, or reload the page; if it keeps happening, rebuild "
            "the index from the sidebar")


def show_error(text: str) -> None:
    """One st.error line; the text is escaped (it may quote a file name or a link)."""
    st.error(escape_markdown(" ".join(str(text).split())))


def guarded(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn``; show any failure as one st.error line (the traceback goes to the log)."""
    try:
        return fn(*args, **kwargs)
    except RetrievalError as err:
        show_error(one_line(err))
    except Exception as err:
        log.exception("app error")
        show_error(one_line(err))
    return None


def load_snapshot(engine: Engine) -> IndexSnapshot | None:
    if not engine.store.exists():
        return None
    return engine.store.load(engine.embedder)


# ------------------------------------------------------------------ source viewer
def passage_header(passage: Passage, paragraph: int | None = None, n: int | None = None,
                   snap: IndexSnapshot | None = None) -> str:
    first, last = passage.paragraphs
    para = paragraph if paragraph is not None else first
    paras = f"¶ {para}" if paragraph is not None or first == last else f"¶ {first}–{last}"
    on_page = snap.page_place(passage.doc, para) if snap is not None else None
    if on_page:
        paras = f"{on_page} ({paras} of the file)"
    parts = [f"**\\[{n}\\]**" if n is not None else f"\\#{passage.rank}",
             escape_markdown(passage.chunk.source),
             f"*{escape_markdown(passage.title)}*", paras, f"score {passage.score:.3f}"]
    if passage.dense is not None:
        parts.append(f"meaning {passage.dense:.2f}")
    if passage.keyword is not None:
        parts.append(f"keywords {passage.keyword:.1f}")
    return " · ".join(parts)


def source_line(source: str, shown_title: str = "") -> str | None:
    """What a web page, PDF or DOCX says about itself (title, author, date, site) as one
    escaped line, its original address a link only when it is http(s)."""
    folder = st.session_state.get("source_dir")
    meta = source_metadata(Path(folder) / source) if folder else {}
    parts = [escape_markdown(" ".join(str(meta[k]).split())[:200])
             for k in ("title", "author", "date", "site")
             if meta.get(k) and not (k == "title" and meta[k].strip() == shown_title.strip())]
    url = " ".join(str(meta.get("url", "")).split())
    if _WEB_URL.fullmatch(url):
        parts.append(f"[original page](<{url}>)")
    elif url:
        parts.append(escape_markdown(url[:200]))
    return " · ".join(parts) or None


def context_view(snap: IndexSnapshot, doc: str, number: int,
                 quote: tuple[int, int] | None = None, query: str | None = None,
                 mark: str = "cited", more_quotes: list[tuple[int, int]] | None = None) -> bool:
    """The paragraph and its neighbours in the same article, the quotes highlighted."""
    paras = snap.context(doc, number, window=2)
    if not paras:
        show_error(f"paragraph {number} of {doc} is not in the index; check the link or "
                   "rebuild the index")
        return False
    st.caption(escape_markdown(paras[0].title))
    for para in paras:
        label = f"**¶ {para.number}**" + (f" ⟵ {mark}" if para.number == number else "")
        quotes = [(para.text[q[0] - para.start: q[1] - para.start], q[0] - para.start)
                  for q in ([quote] if quote else []) + (more_quotes or [])
                  if para.number == number and para.start <= q[0] < para.end]
        first = quotes[0] if quotes else (None, None)
        body = passage_markdown(para.text, first[0], query, first[1], quotes[1:])
        st.markdown(f"{label}  \n{body}")
    return True


def link_base() -> str:
    """Where links point: RETRIEVAL_PUBLIC_URL (the address readers use, e.g. behind a
    proxy), else the page's own URL."""
    return locations().public_url or st.context.url or "http://localhost:8501/"


def full_link(query_string: str) -> str:
    return absolute_link(link_base(), query_string) or query_string


def source_card(snap: IndexSnapshot, passage: Passage, key: str, *, n: int | None = None,
                paragraph: int | None = None, quote: str | None = None,
                quote_range: tuple[int, int] | None = None, query: str | None = None,
                more_quotes: list[Citation] | None = None) -> None:
    """One passage: header, text with highlights, "Open in context" and its deep link.

    ``more_quotes``: further citations of the same paragraph, highlighted on this card.
    """
    more = more_quotes or []
    with st.container(border=True, key=f"card-{key}"):
        st.markdown(passage_header(passage, paragraph, n, snap))
        about = source_line(passage.chunk.source, passage.title)
        if about:
            st.caption(about)
        hint = quote_range[0] - passage.chunk.start if quote_range else None
        st.markdown(passage_markdown(passage.text, quote, query, hint,
                                     [(c.quote, c.quote_start - passage.chunk.start)
                                      for c in more]))
        para = paragraph if paragraph is not None else passage.paragraphs[0]
        link = deep_link(passage.doc, para, quote_range)
        with st.expander("Open in context"):
            context_view(snap, passage.doc, para, quote_range, query,
                         mark="cited" if n is not None else "this passage",
                         more_quotes=[(c.quote_start, c.quote_end) for c in more])
            st.caption("Link to this paragraph")
            st.code(full_link(link), language=None)
            if st.button("Open this link", key=f"link-{key}"):
                set_deep_link(passage.doc, para, quote_range)


def set_deep_link(doc: str, para: int, quote: tuple[int, int] | None) -> None:
    params = {"doc": doc, "para": str(para)}
    if quote is not None:
        params["hl"] = f"{quote[0]}-{quote[1]}"
    params.update(conversation_param())
    st.query_params.from_dict(params)  # one update: a refresh never sees half a link
    st.rerun()


def close_link() -> None:
    """Drop the paragraph link from the URL, keeping the conversation's id."""
    st.query_params.from_dict(conversation_param())


def linked_paragraph(snap: IndexSnapshot) -> None:
    """``?doc=…&para=…[&hl=start-end]`` opens that paragraph in context, in a dialog over the
    page: in view wherever the page is scrolled (an "Open this link" far down a chat too)."""
    doc = st.query_params.get("doc")
    raw = st.query_params.get("para")
    if doc or raw:
        link_dialog(snap, doc, raw)


@st.dialog("Linked paragraph", width="large", on_dismiss=close_link)
def link_dialog(snap: IndexSnapshot, doc: str | None, raw: str | None) -> None:
    with st.container(key="linked"):
        if not doc or not raw or not raw.strip().isdigit():
            show_error(f"a paragraph link needs ?doc=NAME&para=NUMBER; got doc={doc!r}, "
                       f"para={raw!r}")
        else:
            quote = parse_highlight(st.query_params.get("hl"))
            if guarded(context_view, snap, doc, int(raw), quote):
                st.code(full_link(deep_link(doc, int(raw), quote)), language=None)
        if st.button("Close", key="close-link"):
            close_link()
            st.rerun()


# ------------------------------------------------------------------ chat
def abstention_body(text: str) -> str:
    """The abstention without its own "The articles don't say", which the title says."""
    rest = _DONT_SAY.sub("", text, count=1)
    return rest[:1].upper() + rest[1:] if rest.strip() else text


def render_answer(snap: IndexSnapshot, answer: Answer, turn: int,
                  docs: list[str] | None = None, unresolved: str | None = None) -> None:
    """One answer; ``docs``: the document filter it was asked with; ``unresolved``: a "he"
    or "she" of the question that nothing before it names anyone for."""
    if answer.rewritten and answer.query:
        st.caption("Follow-up searched as: " + escape_markdown(answer.query))
    if unresolved:
        st.info(escape_markdown(f"Nothing earlier in this conversation names who "
                                f"“{unresolved}” is, so this answer may be about someone else: "
                                "ask again with the name."))
    if answer.notice:
        st.info(escape_markdown(answer.notice))
    if answer.abstained and docs:
        st.info(escape_markdown(f"Searched only {plural(len(docs), 'selected document')}: "
                                + ", ".join(doc_labels(snap).get(d, d) for d in docs[:3])
                                + (" …" if len(docs) > 3 else "") + "." + FILTER_HINT))
    if answer.abstained:
        st.markdown(f"**{ABSTAIN_TITLE}** " + answer_markdown(abstention_body(answer.text)))
        st.markdown("Closest passages:")
        passages = distinct(answer.passages, [])
        for i, passage in enumerate(passages[:3]):
            source_card(snap, passage, f"{turn}-near-{i}")
        rest = passages[3:]
    else:
        # one [n] per cited paragraph, as in the export: "… [1] In particular, … [1]" from two
        # paragraphs of one passage becomes [1] and [2]
        text, sources = renumbered(answer)
        st.markdown(answer_markdown(text, [c.phrase_text for c in answer.citations]))
        if sources:
            st.markdown("**Sources**")
        for number, group in sources:
            c, *more = distinct_quotes(group)
            source_card(snap, c.passage, f"{turn}-cite-{number}", n=number,
                        paragraph=c.paragraph, quote=c.quote,
                        quote_range=(c.quote_start, c.quote_end), more_quotes=more)
        rest = distinct(answer.passages, [group[0].passage for _, group in sources])
    if rest:
        with st.expander(f"Other retrieved passages ({len(rest)})"):
            for i, passage in enumerate(rest):
                source_card(snap, passage, f"{turn}-other-{i}", query=answer.query)


def distinct_quotes(citations: list[Citation]) -> list[Citation]:
    """Citations of one paragraph, each quote once."""
    return list({(c.quote_start, c.quote_end): c for c in reversed(citations)}.values())[::-1]


def distinct(passages: list[Passage], shown: list[Passage]) -> list[Passage]:
    """``passages`` without those already ``shown`` or repeated: same chunk, or the same
    text (an article that holds a paragraph twice, or a file indexed under two names)."""
    seen = {" ".join(p.text.split()) for p in shown} | {p.chunk.id for p in shown}
    out = []
    for passage in passages:
        text = " ".join(passage.text.split())
        if text not in seen and passage.chunk.id not in seen:
            seen |= {text, passage.chunk.id}
            out.append(passage)
    return out


def history_for(turns: list[dict]) -> list[Answer]:
    return [t["answer"] for t in turns if t.get("answer") is not None]


def ask(engine: Engine, question: str, opts: Options) -> Answer:
    history = history_for(st.session_state.turns)
    return engine.ask(question, history=history or None, k=opts.k, docs=opts.docs or None,
                      llm=True if opts.llm else None)


def chat_page(engine: Engine, snap: IndexSnapshot, opts: Options) -> None:
    st.title("Ask the articles")
    turns: list[dict] = st.session_state.turns
    for i, turn in enumerate(turns):
        with st.chat_message("user"):
            st.markdown(escape_markdown(turn["question"]))
        with st.chat_message("assistant"):
            if turn.get("answer") is not None:
                # one turn that cannot be drawn must not take the question box with it
                guarded(render_answer, snap, turn["answer"], i, turn.get("docs"),
                        turn.get("unresolved"))
            else:
                show_error(turn["error"])
    question = st.chat_input("Ask a question about the articles")
    if question is None:
        if not turns:
            st.caption("Answers quote the articles and cite the paragraph each claim comes "
                       "from. Try: *Which port opened north of Lima?*")
        return
    new_turn(engine, snap, question, opts, len(turns))


def new_turn(engine: Engine, snap: IndexSnapshot, question: str, opts: Options, i: int) -> None:
    try:
        clean_query(question)
    except RetrievalError as err:
        show_error(one_line(err))
        return
    with st.chat_message("user"):
        st.markdown(escape_markdown(question))
    with st.chat_message("assistant"):
        try:
            with st.spinner("Searching the articles…"):
                answer = ask(engine, question, opts)
        except Exception as err:
            if not isinstance(err, RetrievalError):
                log.exception("ask failed")
            st.session_state.turns.append({"question": question, "error": one_line(err)})
            save_conversation()
            show_error(one_line(err))
            return
        unresolved = unresolved_pronoun(question, history_for(st.session_state.turns))
        st.session_state.turns.append({"question": question, "answer": answer,
                                       "docs": list(opts.docs), "unresolved": unresolved})
        save_conversation()
        render_answer(snap, answer, i, opts.docs, unresolved)


# ------------------------------------------------------------------ search
def search_page(engine: Engine, snap: IndexSnapshot, opts: Options) -> None:
    st.title("Search passages")
    query = st.text_input("Search by meaning", key="search_query",
                          placeholder="e.g. trade between China and Peru")
    if not query:
        st.caption("Passages are ranked by meaning and keywords; matched words are highlighted.")
        return
    passages = engine.search(query, k=opts.k, docs=opts.docs or None)
    scope = f" in {plural(len(opts.docs), 'selected document')}" if opts.docs else ""
    if not passages:
        st.info(f"No results{scope}." + (FILTER_HINT if opts.docs else ""))
        return
    st.caption(f"{plural(len(passages), 'passage')}{scope}")
    if all(not p.keyword for p in passages):
        st.info("Weak matches: no passage holds a word of the search, so these are only the "
                "closest in meaning and may not be about it. Try other words.")
    for passage in passages:
        source_card(snap, passage, f"search-{passage.rank}", query=query)


# ------------------------------------------------------------------ sidebar
PROGRESS_UNITS = {"embedding": "sentences", "writing": "steps"}  # what each stage counts


def progress_callback(bar) -> Callable[[str, int, int], None]:
    def update(stage: str, done: int, total: int) -> None:
        unit = PROGRESS_UNITS.get(stage, "")
        bar.progress(min(1.0, done / max(total, 1)),
                     text=f"{stage}: {done:,}/{total:,} {unit}".rstrip())

    return update


def update_index(engine: Engine, rebuild: bool) -> None:
    bar = st.progress(0.0, text="starting…")
    report = engine.update_index(rebuild=rebuild, progress=progress_callback(bar))
    bar.empty()
    flash("success", report.summary())
    for problem in report.problems:
        flash("warning", f"not indexed: {problem}")
    for notice in getattr(report, "notices", []):
        flash("info", notice)


def flash(kind: str, text: str) -> None:
    st.session_state.flash.append((kind, text))


def show_flash() -> None:
    for kind, text in st.session_state.flash:
        getattr(st, kind)(escape_markdown(text))
    st.session_state.flash = []


def index_status(engine: Engine) -> None:
    st.subheader("Index")
    status = engine.status()
    if not status.exists:
        st.warning("No index yet: build it to start.")
        if st.button("Build index", type="primary"):
            update_index(engine, rebuild=False)
            st.rerun()
        return
    if status.problem:
        show_error(status.problem)
    elif status.manifest is not None:
        m = status.manifest
        c = m.counts
        st.markdown(
            f"{c.get('documents', 0)} documents · {c.get('articles', 0)} articles · "
            f"{c.get('paragraphs', 0)} paragraphs · {c.get('chunks', 0)} chunks  \n"
            f"model {escape_markdown(m.model.split('/')[-1])} · built "
            f"{escape_markdown(m.built_at.replace('T', ' '))}"
        )
    failed_files(getattr(status, "failed", {}))
    if status.fresh:
        st.success("Fresh: matches the corpus folder.")
    elif not status.problem:
        changes = [f"{len(v)} {k}" for k, v in (("added", status.added),
                   ("changed", status.changed), ("deleted", status.deleted)) if v]
        st.warning("Stale: " + ", ".join(changes) + " since the build.")
        if st.button("Update index", type="primary"):
            update_index(engine, rebuild=False)
            st.rerun()
    rebuild_button(engine)


def failed_files(failed: dict[str, str]) -> None:
    """The files the last update could not read, each with its reason."""
    if not failed:
        return
    with st.expander(f"Not indexed: {plural(len(failed), 'file')}"):
        for name, why in sorted(failed.items()):
            st.markdown(escape_markdown(why if why.startswith(f"{name}:") else f"{name}: {why}"))
        st.caption("Fix or remove these files; the next update reads them again.")


def rebuild_button(engine: Engine) -> None:
    """"Rebuild index" asks first: it discards the index and embeds every file again."""
    if not st.session_state.get("confirm_rebuild"):
        if st.button("Rebuild index", help="Discard the index and embed every file again"):
            st.session_state.confirm_rebuild = True
            st.rerun()
        return
    st.warning("Rebuild the index? It is discarded and every file is embedded again, which "
               "can take minutes on a large corpus.")
    yes, no = st.columns(2)
    if yes.button("Yes, rebuild", type="primary"):
        st.session_state.confirm_rebuild = False
        update_index(engine, rebuild=True)
        st.rerun()
    if no.button("Cancel"):
        st.session_state.confirm_rebuild = False
        st.rerun()


def upload_section(engine: Engine) -> None:
    st.subheader("Add articles")
    nonce = st.session_state.upload_nonce
    # No ``type=`` filter: Streamlit would raise on another type; save_upload refuses it
    # with a one-line message instead.
    accepts = f"{', '.join(SUPPORTED_SUFFIXES)} up to {engine.settings.max_file_mb:g} MB each"
    files = st.file_uploader("Upload articles", accept_multiple_files=True,
                             key=f"upload-{nonce}",
                             max_upload_size=max(1, math.ceil(engine.settings.max_file_mb)),
                             help=accepts)
    st.caption(escape_markdown(f"Accepts {accepts}."))
    replace = st.checkbox("Replace files of the same name", key="replace_uploads")
    if not files:
        return
    saved = 0
    for file in files:
        try:
            result = save_upload(engine.source_dir, file.name, file.getvalue(),
                                 engine.max_bytes, overwrite=replace)
        except RetrievalError as err:
            flash("error", one_line(err))
            continue
        unchanged = result.status == "unchanged"
        saved += not unchanged
        flash("info" if unchanged else "success",
              f"{result.name}: {'already in the corpus' if unchanged else result.status}")
    st.session_state.upload_nonce += 1
    if saved:
        update_index(engine, rebuild=False)
    st.rerun()


def remove_section(engine: Engine, snap: IndexSnapshot) -> None:
    """Take a document out of the corpus, after a confirmation; the index then drops it."""
    labels = doc_labels(snap)
    if not labels:
        return
    if st.session_state.get("remove_doc") not in labels:   # removed since it was chosen
        st.session_state.remove_doc = None
    with st.expander("Remove a document"):
        name = st.selectbox("Document", sorted(labels, key=lambda d: labels[d].lower()),
                            key="remove_doc", format_func=lambda doc: labels.get(doc, doc),
                            index=None, placeholder="Choose a document")
        if name is None:
            return
        if st.session_state.get("confirm_remove") != name:
            if st.button("Remove…", key="remove"):
                st.session_state.confirm_remove = name
                st.rerun()
            return
        st.warning(escape_markdown(f"Remove {labels[name]} ({name}) from the corpus? The file "
                                   f"moves to {REMOVED_DIR}/ in the corpus folder and the index "
                                   "drops it now."))
        yes, no = st.columns(2)
        if yes.button("Yes, remove", type="primary", key="remove-yes"):
            st.session_state.confirm_remove = None
            remove_document(engine.source_dir, name)
            flash("success", f"{name}: removed")
            update_index(engine, rebuild=False)
            st.rerun()
        if no.button("Cancel", key="remove-no"):
            st.session_state.confirm_remove = None
            st.rerun()


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def doc_labels(snap: IndexSnapshot) -> dict[str, str]:
    """Each document's name -> what the filter shows: its article's title ("… and 3 more
    articles" for a file of several), the file name added where two titles are the same.
    Computed once per index generation, not at every page run."""
    return _doc_labels(snap.manifest.generation, snap)


@st.cache_resource(max_entries=8, show_spinner=False)
def _doc_labels(generation: str, _snap: IndexSnapshot) -> dict[str, str]:
    snap = _snap
    titles: dict[str, list[str]] = {name: [] for name in snap.doc_names}
    for chunk in snap.chunks:
        found = titles.setdefault(chunk.source, [])
        if chunk.title and chunk.title not in found:
            found.append(chunk.title)
    labels = {}
    for name, found in titles.items():
        label = " ".join(found[0].split()) if found else name
        if len(found) > 1:
            label += f" and {plural(len(found) - 1, 'more article')}"
        labels[name] = label
    seen = Counter(labels.values())
    return {n: label if seen[label] == 1 else f"{label} ({n})" for n, label in labels.items()}


def answer_options(engine: Engine, snap: IndexSnapshot | None) -> tuple[int, list[str], bool]:
    st.subheader("Answers")
    llm = LLMSettings.endpoint().model  # llm=True makes Engine.ask read it again
    has_llm = bool(llm)
    mode = st.radio("Answer mode", ["Extractive", "LLM"], key="answer_mode", horizontal=True,
                    disabled=not has_llm,
                    help=(f"LLM: {llm}" if has_llm else
                          "Set RETRIEVAL_LLM_MODEL (and RETRIEVAL_LLM_BASE_URL) to use an LLM"))
    k = st.slider("Passages", 1, 30, min(engine.settings.k, 30), key="k")
    labels = doc_labels(snap) if snap is not None else {}
    if any(d not in labels for d in st.session_state.get("docs", [])):  # removed since
        st.session_state.docs = [d for d in st.session_state.docs if d in labels]
    docs = st.multiselect("Only these documents", sorted(labels, key=lambda d: labels[d].lower()),
                          key="docs",
                          format_func=lambda doc: labels.get(doc, doc))
    return k, docs, mode == "LLM" and has_llm


def export_section() -> None:
    answers = history_for(st.session_state.turns)
    markdown = conversation_markdown(answers, base_url=link_base())
    st.session_state.export_markdown = markdown
    st.download_button("Export conversation (Markdown)", markdown, file_name="conversation.md",
                       mime="text/markdown", disabled=not answers, on_click="ignore")
    if st.session_state.turns and st.button("Clear conversation"):
        st.session_state.turns = []
        save_conversation()
        st.rerun()


def sidebar(engine: Engine, snap: IndexSnapshot | None) -> Options:
    with st.sidebar:
        page = st.radio("Page", ["Ask", "Search"], key="page", horizontal=True)
        show_flash()
        guarded(index_status, engine)
        k, docs, llm = answer_options(engine, snap)
        guarded(upload_section, engine)
        if snap is not None:
            guarded(remove_section, engine, snap)
        st.subheader("Conversation")
        export_box = st.container()   # filled after the page, so it holds the newest turn
    return Options(page, k, docs, llm, export_box)


# ------------------------------------------------------------------ main
def init_state() -> None:
    for key, value in (("flash", []), ("upload_nonce", 0)):
        if key not in st.session_state:
            st.session_state[key] = value
    if "turns" not in st.session_state:
        st.session_state.turns = restored_turns()


# ------------------------------------------------------------------ kept across a reload
def conversation_store() -> ConversationStore:
    """RETRIEVAL_CONVERSATION_DIR, else ~/.cache/retrieval/conversations."""
    return ConversationStore(locations().conversation_dir)


def conversation_param() -> dict[str, str]:
    sid = st.session_state.get("session_id")
    return {SESSION_PARAM: sid} if sid else {}


def restored_turns() -> list[dict]:
    """The turns saved under the URL's conversation id (a reload), else none."""
    sid = st.query_params.get(SESSION_PARAM)
    if not valid_session_id(sid):
        return []
    st.session_state.session_id = sid
    try:
        return conversation_store().load(sid)
    except (OSError, ValueError) as err:
        flash("warning", f"the conversation could not be restored: {err}")
        return []


def save_conversation() -> None:
    """Save the turns under this session's id, and put the id in the URL."""
    if "session_id" not in st.session_state:
        st.session_state.session_id = new_session_id()
    sid = st.session_state.session_id
    try:
        conversation_store().save(sid, st.session_state.turns)
    except (OSError, TypeError, ValueError) as err:  # a full disk, an unserialisable answer
        log.warning("conversation not saved: %s", err)
        return
    if st.query_params.get(SESSION_PARAM) != sid:
        st.query_params[SESSION_PARAM] = sid


def main() -> None:
    st.set_page_config(page_title="Ask the articles", page_icon="📰", layout="wide")
    init_state()
    try:
        engine = get_engine(Settings().model_dump_json())
    except (ValidationError, RetrievalError) as err:
        show_error(one_line(err))
        return
    st.session_state.source_dir = str(engine.source_dir)   # source cards read what files say
    snap = guarded(load_snapshot, engine)
    opts = sidebar(engine, snap)
    if snap is None:
        st.info("There is no usable index yet: build or rebuild it from the sidebar.")
        with opts.export_box:
            export_section()
        return
    guarded(linked_paragraph, snap)
    page = chat_page if opts.page == "Ask" else search_page
    guarded(page, engine, snap, opts)
    with opts.export_box:
        export_section()


main()
