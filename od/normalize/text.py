"""Free text from feeds: HTML entities, stray tags, invisible characters, runs of whitespace."""

from __future__ import annotations

import html
import re

from selectolax.lexbor import LexborHTMLParser

_TAG = re.compile(r"<[a-zA-Z/!][^>]*>")
_BREAK = re.compile(r"<br\s*/?>|</(?:p|div|li|h[1-6]|tr)\s*>", re.IGNORECASE)
# BOM, zero-width characters, soft hyphen, control characters, and lone surrogates (from JSON
# "\ud800" escapes: they cannot be encoded as UTF-8, so an event holding one could not be sent).
_INVISIBLE = re.compile("[\ufeff\u200b\u200c\u200d\u2060\u00ad\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_SPACES = re.compile(r"[^\S\n]{2,}|[^\S\n ]")  # runs, or a tab/NBSP: a lone " " needs no rewrite
_BLANK_LINES = re.compile(r"\n{3,}")
_ALL_SPACE = re.compile(r"\s{2,}|[^\S ]")
_ELLIPSIS = "…"


def _strip_tags(text: str) -> str:
    text = _BREAK.sub("\n", text)
    return LexborHTMLParser(text).text(separator="") if _TAG.search(text) else text


def clean_text(value: object, *, multiline: bool = False, limit: int | None = None) -> str | None:
    """Readable text or None: entities decoded, tags stripped, whitespace collapsed.

    ``multiline`` keeps line breaks (one blank line at most), for descriptions;
    ``limit`` truncates at a word boundary so the result fits a contract length.
    """
    if value is None or isinstance(value, bool):
        return None
    if not isinstance(value, str):
        if not isinstance(value, int | float):
            return None
        value = str(value)
    text = value
    if text.isascii() and text.isprintable() and "&" not in text and "<" not in text and "  " not in text:
        text = text.strip()  # the usual case, checked in C
        if not text:
            return None
        return truncate(text, limit) if limit is not None else text
    if "&" in text:
        text = html.unescape(text)
        if "&" in text:
            text = html.unescape(text)  # some feeds escape twice: "&amp;amp;"
    if "<" in text:
        text = _strip_tags(text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Printable ASCII apart from line breaks (most descriptions) needs no character-level regex.
    plain = text.isascii() and text.replace("\n", " ").isprintable()
    if not plain:
        text = _INVISIBLE.sub("", text)
    if multiline:
        if not plain or "  " in text:
            text = _SPACES.sub(" ", text)
        text = text.replace(" \n", "\n").replace("\n ", "\n")  # runs are single spaces by now
        if "\n\n\n" in text:
            text = _BLANK_LINES.sub("\n\n", text)
        text = text.strip()
    else:
        text = _ALL_SPACE.sub(" ", text).strip()
    if not text:
        return None
    return truncate(text, limit) if limit is not None else text


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a word boundary when one is near."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + _ELLIPSIS
