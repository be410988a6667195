"""Saved web pages give their article's text and metadata, not the site around it.

The six real pages are read from ../shared/benchmarks/html (never copied into the repo). Each
must-not phrase is checked to be on the page's visible text first, so that its absence from
the article proves something.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.ingest.chunk import Chunker
from retrieval.ingest.load import html_to_text, load_folder, read_source

PAGES = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "html"

# file: (title, meta, phrases the article must hold in order, phrases it must not hold)
EXPECTED = {
    "theguardian.com.academics.html": (
        "Thousands of UK academics 'treated as second-class citizens'",
        {"author": "Richard Adams", "date": "2020-01-20", "site": "The Guardian"},
        ["Thousands of academic staff at British universities",
         "Chi Onwurah, the Labour MP for Newcastle Central",
         "Jo Grady, the UCU general secretary",
         "The findings come in the middle of long-running industrial action"],
        ["Skip to main content", "Sign in", "switch to the UK edition", "World news",
         "Support The Guardian", "Available for everyone, funded by readers"],
    ),
    "nationalgeographic.co.uk.goats.html": (
        "Ravenous wild goats ruled this island for over a century. Now, it's being reborn.",
        {"author": "Michael Hingston", "date": "2020-01-06", "site": "National Geographic"},
        ["It takes four hours to sail to Redonda",
         "the Redonda ground dragon, a rare, six-inch, all-black lizard",
         "Long gone? Not so fast.",
         "Lawrence says she hopes that people around the world will admire Redonda"],
        ["Skip to main content", "Magazine subscription", "Photo of the Day",
         "You might also like", "The story of the world’s loneliest tree",
         "facebooktwitterflipboardwhatsapp"],
    ),
    "salon.com.emissions.html": (
        "Despite everything, U.S. emissions dipped in 2019",
        {"author": "Nathanael Johnson", "date": "2020-01-10", "site": "Salon.com"},
        ["Just a week into the new year",
         "total emissions fell 2 percent compared with the year before",
         "Nudging people toward clean electricity requires policy"],
        ["News & Politics", "Clinton urges voters to take out Trump", "Advertisement:",
         "(Credit: Clayton Aldern / Grist)",
         "Sign up for our free newsletter", "Trending Articles", "Already a Subscriber?"],
    ),
    "phys.org.tool.html": (
        "Flint flake tool partially covered by birch tar adds to evidence of Neanderthal "
        "complex thinking",
        {"author": "Bob Yirka", "date": "2019-10-22", "site": "Phys.org"},
        ["A team of researchers affiliated with several institutions in The Netherlands",
         "Creating and using birch tar, the researchers note, requires some degree of complex "
         "thinking",
         "The tool was found on Zandmotor beach near The Hague"],
        ["Forget Password?", "Nanotechnology", "share this!", "Feedback to editors",
         "Explore further", "This document is subject to copyright"],
    ),
    "nature.com.telescope.html": (
        "Gigantic Chinese telescope opens to astronomers worldwide",
        {"author": "Elizabeth Gibney", "date": "2019-09-24", "site": "Nature"},
        ["The world’s largest single-dish radio observatory",
         "Eye in the sky",
         "Now the team’s biggest hurdle is working out how to store and process"],
        ["Thank you for visiting nature.com", "My Account", "Nature Briefing",
         "Sign up for the Nature Briefing newsletter", "Related Articles",
         "SpaceX tests black satellite"],
    ),
    "wikimediafoundation.org.turkey.html": (
        "Access to Wikipedia restored in Turkey after more than two and a half years",
        {"author": "Wikimedia Foundation", "date": "2020-01-15", "site": "Wikimedia Foundation"},
        ["Today, on Wikipedia’s 19th birthday",
         "We are thrilled to be reunited with the people of Turkey",
         "More than 85 percent of the articles on Wikipedia are in languages other than English"],
        ["Skip to content", "Toggle menu", "Donate now", "Read further in the pursuit of "
         "knowledge", "This mailing list is powered by MailChimp", "Contact a human"],
    ),
}

pytestmark = pytest.mark.skipif(not PAGES.is_dir(), reason=f"{PAGES} is not there")


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=lambda n: n.split(".")[1])
def test_real_page_gives_its_article_and_none_of_the_site(name):
    title, meta, must, must_not = EXPECTED[name]
    path = PAGES / name
    visible = html_to_text(path.read_text(encoding="utf-8", errors="replace"))
    source = read_source(path, 10**8)
    doc = source.documents[0]
    assert source.kind == "html" and source.notices == []
    assert doc.paragraphs[0].text == title
    assert {p.title for p in doc.paragraphs} == {title}
    positions = [doc.text.find(phrase) for phrase in must]
    assert -1 not in positions, [m for m, p in zip(must, positions) if p == -1]
    assert positions == sorted(positions), "paragraphs out of order"
    indexed = "\n\n".join(p.text for p in doc.paragraphs if not p.boilerplate)
    for phrase in must_not:
        assert phrase in visible, f"{phrase!r} is not on the page: the check proves nothing"
        assert phrase not in indexed, f"site furniture {phrase!r} was indexed"
    assert {k: doc.meta.get(k) for k in meta} == meta
    assert doc.meta["url"].startswith("http")
    assert all(doc.text[p.start:p.end] == p.text for p in doc.paragraphs)


def test_real_pages_index_to_few_chunks_each():
    """Before trafilatura, the six pages gave 68 chunks, many of them menus; now 35."""
    chunker = Chunker()
    counts = {name: len(chunker.chunk(read_source(PAGES / name, 10**8).documents[0]))
              for name in EXPECTED}
    assert sum(counts.values()) <= 40, counts
    assert counts["theguardian.com.academics.html"] <= 5


def test_page_without_main_text_falls_back_to_visible_text_with_a_notice(tmp_path):
    page = tmp_path / "menu.html"
    page.write_text("<html><head><title>Site map</title></head><body><nav><ul>"
                    "<li><a href='/a'>Harbor news</a></li><li><a href='/b'>Ship arrivals</a>"
                    "</li></ul></nav></body></html>", encoding="utf-8")
    source = read_source(page, 10**6)
    texts = [p.text for p in source.documents[0].paragraphs]
    assert texts == ["Site map", "Harbor news", "Ship arrivals"]
    assert len(source.notices) == 1
    assert source.notices[0].startswith("menu.html: no main article text found")
    assert "\n" not in source.notices[0]
    loaded = load_folder(tmp_path)
    assert loaded.notices == source.notices and loaded.problems == []


def test_synthetic_article_drops_its_menu_and_footer(tmp_path):
    body = " ".join(["The harbor of Valdoria reopened on Monday after two years of works."] * 4)
    page = tmp_path / "article.html"
    page.write_text(
        "<!-- saved from url=(0035)https://news.example/valdoria-port -->"
        "<html><head><title>Valdoria harbor reopens</title></head><body>"
        "<header><nav><a href='/'>Home</a> <a href='/world'>World news</a>"
        "<a href='/login'>Sign in</a></nav></header>"
        "<div id='cookie-banner'>We use cookies. Accept all cookies</div>"
        f"<article><h1>Valdoria harbor reopens</h1><p>{body}</p>"
        "<p>Ships from three countries are expected this week.</p></article>"
        "<aside class='related'><h3>Related stories</h3><ul><li><a href='/x'>Another port</a>"
        "</li></ul></aside><footer>© 2024 Example News. All rights reserved.</footer>"
        "</body></html>", encoding="utf-8")
    doc = read_source(page, 10**6).documents[0]
    assert [p.text for p in doc.paragraphs] == [
        "Valdoria harbor reopens", body, "Ships from three countries are expected this week."]
    assert doc.meta["url"] == "https://news.example/valdoria-port"


def test_folder_of_saved_pages_ignores_their_asset_folders(tmp_path):
    source = PAGES / "nature.com.telescope.html"
    (tmp_path / "telescope.html").write_bytes(source.read_bytes())
    assets = tmp_path / "telescope_files"
    assets.mkdir()
    (assets / "ad-frame.html").write_text("<p>Buy now! Limited offer.</p>", encoding="utf-8")
    (assets / "app.js").write_text("console.log(1)", encoding="utf-8")
    (assets / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    loaded = load_folder(tmp_path)
    assert [f.name for f in loaded.files] == ["telescope.html"]
    assert loaded.problems == [] and loaded.notices == []
    assert "Buy now" not in loaded.files[0].documents[0].text


def test_source_metadata_for_a_source_card(tmp_path):
    from retrieval.ingest.load import source_metadata

    _, meta, _, _ = EXPECTED["theguardian.com.academics.html"]
    found = source_metadata(PAGES / "theguardian.com.academics.html")
    assert {k: found.get(k) for k in meta} == meta
    assert found["url"].startswith("http://www.theguardian.com/education/2020/jan/20/")
    assert source_metadata(tmp_path / "gone.html") == {}
    plain = tmp_path / "plain.txt"
    plain.write_text("Title\n\nBody.\n", encoding="utf-8")
    assert source_metadata(plain) == {}
