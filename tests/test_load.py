"""Loading: paragraph numbering, titles of compiled articles, boilerplate, formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from retrieval.errors import SourceError
from retrieval.ingest.load import build_paragraphs, html_to_text, is_boilerplate, read_source

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def eval_numbering(text: str) -> list[str]:
    """The numbering of ../shared/eval/README.md."""
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.txt")), ids=lambda p: p.name[:3])
def test_paragraph_numbers_and_offsets_match_the_eval_numbering(path):
    text = path.read_text(encoding="utf-8")
    paragraphs = build_paragraphs(path.name, text)
    assert [p.text for p in paragraphs] == eval_numbering(text)
    assert all(text[p.start:p.end] == p.text for p in paragraphs)


def test_compiled_file_gives_each_article_its_own_title():
    text = (SEEDS / "002_9303b0950ef92962.txt").read_text(encoding="utf-8")
    paragraphs = build_paragraphs("002", text)
    by_number = {p.number: p for p in paragraphs}
    # the article that a "Continue reading <title>" line closes starts at that title
    for p in paragraphs:
        if p.text.startswith("Continue reading "):
            named = p.text.removeprefix("Continue reading ").strip()
            assert p.boilerplate
            assert by_number[p.number - 1].title == named
    assert len({p.title for p in paragraphs}) > 10


def test_article_without_continue_line_keeps_title_of_its_first_paragraph():
    text = "First title\n\nBody one.\n\nContinue reading First title\n\nSecond title\n\nBody two."
    paragraphs = build_paragraphs("x.txt", text)
    assert [p.title for p in paragraphs] == ["First title"] * 3 + ["Second title"] * 2
    assert [p.boilerplate for p in paragraphs] == [False, False, True, False, False]


def test_title_named_by_a_later_continue_line_starts_a_new_article():
    text = ("Old title\n\nOld body.\n\nNew title\n\nNew body.\n\nContinue reading New title")
    titles = [p.title for p in build_paragraphs("x.txt", text)]
    assert titles == ["Old title", "Old title", "New title", "New title", "New title"]


@pytest.mark.parametrize("text, expected", [
    ("Apple News Facebook Twitter 新浪微博 Instagram YouTube Friday, May 10, 2024", True),
    ("We Recommend", True),
    ("Most Read", True),
    ("Key Words", True),
    ("Continue reading Some article", True),
    ("(For the latest China news, Please follow People's Daily)(Web editor: Bianji, Hongyu)", True),
    ("© 2023 Example News – All Right Reserved.", True),
    ("(Credit: Clayton Aldern / Grist)", True),
    ("Photo: Xinhua", True),
    ("Photograph by Ed Marshall", True),
    ("Photo: the harbor at dawn, when the first ships of the season arrive from the south and "
     "the cranes start work on the new quay of Valdoria.", False),
    ("China and Cuba on Friday vowed to deepen practical cooperation.", False),
    ("He posted the video on Facebook.", False),
])
def test_boilerplate(text, expected):
    assert is_boilerplate(text) is expected


def test_first_paragraph_share_bar_is_not_the_title():
    paragraphs = build_paragraphs("000", (SEEDS / "000_a20fb98d03a282a8.txt").read_text("utf-8"))
    assert paragraphs[0].boilerplate
    assert paragraphs[0].title == "China, Latin America forge stronger relationship in new era"


def test_html_gives_visible_text_only(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Port news</title><style>p{color:red}</style></head><body>"
        "<h1>Port news</h1><p>The port <b>opened</b> in 2024.</p><script>alert(1)</script>"
        "<p>Ships arrive weekly.</p></body></html>", encoding="utf-8")
    doc = read_source(page, 10**6).documents[0]
    assert [p.text for p in doc.paragraphs] == [
        "Port news", "The port opened in 2024.", "Ships arrive weekly."]
    assert "alert" not in doc.text and "color" not in doc.text


def test_html_to_text_separates_blocks():
    assert html_to_text("<p>a</p><p>b</p>") == "a\n\nb"


@pytest.mark.parametrize("markup", [
    "<html><title>Port news</title><body>Ships arrive weekly.<p>Cranes work.</p></body></html>",
    "<html><title>Port news</title><body><h1>Port news</h1><p>Ships arrive weekly.</p>"
    "<p>Cranes work.</p></body></html>",
    "<title>Port news</title><p>Ships arrive weekly.</p><p>Cranes work.</p>",
    "<html><body><p>Ships arrive weekly.</p><title>Port news</title><p>Cranes work.</p>"
    "</body></html>",
], ids=["before-body-inline-text", "before-body-same-h1", "no-html-element", "inside-body"])
def test_html_title_outside_head_appears_once_as_the_title(tmp_path, markup):
    # the visible-text reader (the fallback) keeps every block
    assert html_to_text(markup).split("\n\n") == [
        "Port news", "Ships arrive weekly.", "Cranes work."]
    page = tmp_path / "page.html"
    page.write_text(markup, encoding="utf-8")
    doc = read_source(page, 10**6).documents[0]
    texts = [p.text for p in doc.paragraphs]
    assert texts[0] == "Port news" and texts[-1] == "Cranes work."
    assert doc.text.count("Port news") == 1
    assert {p.title for p in doc.paragraphs} == {"Port news"}


def test_html_svg_icon_title_is_neither_the_title_nor_text():
    markup = ("<html><body><svg><title>menu icon</title></svg><h1>Port news</h1>"
              "<p>Ships arrive weekly.</p></body></html>")
    assert html_to_text(markup) == "Port news\n\nShips arrive weekly."


def test_jsonl_corpus_in_beir_format(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"_id": "d1", "title": "Alpha", "text": "First text."},
            {"_id": "d2", "title": "", "text": "Second text."}]
    corpus.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    source = read_source(corpus, 10**6)
    assert [d.name for d in source.documents] == ["d1", "d2"]
    assert source.documents[0].paragraphs[1].title == "Alpha"
    assert all(d.source == "corpus.jsonl" for d in source.documents)


def test_jsonl_bad_line_is_named(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "a", "text": "x"}\nnot json\n', encoding="utf-8")
    with pytest.raises(SourceError, match="line 2"):
        read_source(corpus, 10**6)


def test_crlf_and_nbsp_offsets(tmp_path):
    text = "Title\r\n\r\nA\u00a0line with\u00a0nbsp.\r\n\r\n\u00a0\r\n\r\nLast."
    path = tmp_path / "crlf.txt"
    path.write_bytes(text.encode("utf-8"))
    doc = read_source(path, 10**6).documents[0]
    assert [p.text for p in doc.paragraphs] == eval_numbering(text)
    assert all(doc.text[p.start:p.end] == p.text for p in doc.paragraphs)


MARKDOWN = """# Harbor of **Valdoria**

The port of *Valdoria* opened in 2024. See [the report](https://example.org/r) and
![a crane](crane.png).

## Cranes

- Three cranes from `Korea`
- Two piers

> Ships arrive
> weekly.

```python
print("hello")

x = 1
```

| Year | Ships |
|------|-------|
| 2024 | 12 |

# Second article

Body **two**.
"""


def test_markdown_is_indexed_as_the_text_it_shows(tmp_path):
    path = tmp_path / "harbor.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    source = read_source(path, 10**6)
    doc = source.documents[0]
    assert source.kind == "markdown"
    assert [(p.text, p.title) for p in doc.paragraphs] == [
        ("Harbor of Valdoria", "Harbor of Valdoria"),
        ("The port of Valdoria opened in 2024. See the report and a crane.",
         "Harbor of Valdoria"),
        ("Cranes", "Harbor of Valdoria"),
        ("Three cranes from Korea", "Harbor of Valdoria"),
        ("Two piers", "Harbor of Valdoria"),
        ("Ships arrive weekly.", "Harbor of Valdoria"),
        ('print("hello")\nx = 1', "Harbor of Valdoria"),
        ("Year | Ships", "Harbor of Valdoria"),
        ("2024 | 12", "Harbor of Valdoria"),
        ("Second article", "Second article"),
        ("Body two.", "Second article"),
    ]
    for markup in ("#", "**", "](", "```", "> ", "|---"):
        assert markup not in doc.text
    assert all(doc.text[p.start:p.end] == p.text for p in doc.paragraphs)


def test_markdown_without_a_heading_takes_its_first_paragraph_as_title(tmp_path):
    path = tmp_path / "note.markdown"
    path.write_text("Port *news*\n\nShips arrive weekly.\n", encoding="utf-8")
    doc = read_source(path, 10**6).documents[0]
    assert [(p.text, p.title) for p in doc.paragraphs] == [
        ("Port news", "Port news"), ("Ships arrive weekly.", "Port news")]


def test_markdown_front_matter_is_metadata_not_text(tmp_path):
    from retrieval.ingest.load import source_metadata

    path = tmp_path / "post.md"
    path.write_text('---\ntitle: "Harbor notes"\ntags: [port]\n---\n# Harbor\n\nShips.\n',
                    encoding="utf-8")
    doc = read_source(path, 10**6).documents[0]
    assert [p.text for p in doc.paragraphs] == ["Harbor", "Ships."]
    assert doc.meta == {"title": "Harbor notes"} == source_metadata(path)


def test_html_in_its_declared_charset(tmp_path):
    page = tmp_path / "ru.html"
    page.write_bytes("<html><head><meta charset='windows-1251'><title>Порт</title></head>"
                     "<body><p>Порт Москвы открыт.</p></body></html>".encode("cp1251"))
    source = read_source(page, 10**6)
    assert source.encoding == "cp1251"
    assert [p.text for p in source.documents[0].paragraphs] == ["Порт", "Порт Москвы открыт."]


@pytest.mark.parametrize("text", [
    "How a PDF starts\n\nEvery PDF file begins with %PDF-1.7 and ends with %%EOF.\n",
    "GIF89 and PNG\n\nGIF8 was the name of the draft; Rar! was a shout.\n",
])
def test_text_that_quotes_a_file_signature_is_still_text(tmp_path, text):
    path = tmp_path / "note.txt"
    path.write_text(text, encoding="utf-8")
    source = read_source(path, 10**6)
    assert source.kind == "text" and source.documents[0].text == text


def test_visible_text_of_a_long_page_takes_linear_time():
    """Inserting separators into the parsed tree would be quadratic, minutes for a page this
    long; the one walk over the tree must read its 20,000 paragraphs in seconds."""
    import time

    markup = "<html><body>" + "".join(
        f"<p>Paragraph {i} tells of the <b>harbor</b>.</p>" for i in range(20_000)
    ) + "</body></html>"
    started = time.process_time()
    text = html_to_text(markup)
    assert time.process_time() - started < 6
    assert text.count("\n\n") == 19_999 and text.startswith("Paragraph 0 tells of the harbor.")
