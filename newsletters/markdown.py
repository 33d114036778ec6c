"""Markdown written by editors (a digest's intro, a story's blurb in one digest) as safe HTML.

CommonMark through markdown-it-py, then the same nh3 allow-list as every other staff HTML: raw HTML
in the Markdown is allowed through the parser and cleaned after it, so an intro written as HTML
before Markdown arrived still renders as it did. Relative links are kept here so that the pre-send
checks can name them for the editor to fix, instead of their text going out silently unlinked.
"""

from __future__ import annotations

from markdown_it import MarkdownIt

from newsletters.stories import html_clean

# "commonmark" is the strict preset; tables and strikethrough from "gfm-like" are not needed in a
# mail intro, and linkify would need another dependency.
_parser = MarkdownIt("commonmark", {"html": True, "typographer": True}).enable("replacements")


def markdown_html(text: str) -> str:
    """HTML of `text` (Markdown), reduced to the allow-list; empty text gives ""."""
    if not (text or "").strip():
        return ""
    return html_clean(_parser.render(text), absolute_links_only=False)


MAX_MARKDOWN = 20_000


def markdown_source_clean(raw: str | None) -> str:
    """Markdown as typed, safe to store: lines kept, control characters and lone surrogates gone.

    A lone surrogate (JSON can carry "\\ud800") cannot be stored in PostgreSQL's UTF-8; NUL cannot
    be stored at all. Capped at MAX_MARKDOWN characters.
    """
    text = (raw or "").encode("utf-8", "replace").decode("utf-8").replace("\r\n", "\n")
    kept = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
    return kept.strip()[:MAX_MARKDOWN]
