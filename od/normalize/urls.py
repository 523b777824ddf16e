"""Links from feeds: image lists in one string, relative paths, bare host names."""

from __future__ import annotations

import re
from urllib.parse import urljoin

from w3lib.url import safe_url_string

MAX_URL = 2048
MAX_IMAGES = 300

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_HOST = re.compile(r"^www\.[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?:[/:?#]|$)", re.IGNORECASE)
_SAFE_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%"
_SAFE_BYTES = (_SAFE_CHARACTERS + " ").encode()
_NO_HOST_LINK = re.compile(r" https://[/?# ]")
_NO_HOST = frozenset(("", "/", "?", "#"))
_SAFE = re.compile(rf"^[{re.escape(_SAFE_CHARACTERS)}]*$")


def url(value: object, base_url: str | None = None) -> str | None:
    """An absolute http(s) URL that fits the contract, or None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if text.startswith("https://") and len(text) <= MAX_URL and text[8:9] not in _NO_HOST and _SAFE.match(text):
        return text  # the usual case, checked in C
    try:
        return _absolute(text, base_url)
    except ValueError:  # e.g. "http://[" (a broken IPv6 host) or a host IDNA refuses
        return None


def _absolute(text: str, base_url: str | None) -> str | None:
    if text.startswith("//"):
        text = ("https:" if base_url is None or not base_url.startswith("http:") else "http:") + text
    elif not _SCHEME.match(text):
        if base_url:
            text = urljoin(base_url, text)
        elif _HOST.match(text):
            text = "https://" + text  # "www.rsmhondaonline.com"
        else:
            return None
    lower = text[:8].lower()
    if not (lower.startswith("https://") or lower.startswith("http://")):
        return None
    if lower.startswith("https://"):
        text = "https://" + text[8:]
    else:
        text = "http://" + text[7:]
    if not _SAFE.match(text):
        text = safe_url_string(text)  # spaces, non-ASCII
    host = text.split("//", 1)[1][:1]
    if not host or host in "/?#" or len(text) > MAX_URL:
        return None
    return text


def _spaced(text: str) -> str:
    """Separators as spaces: ``|``, ``;``, and commas that start a new link or follow a space.

    A comma inside a link (CDN transformations such as ``w_640,h_480``) is kept.
    """
    if "|" in text:
        text = text.replace("|", " ")
    if ";" in text:
        text = text.replace(";", " ")
    if "," in text:
        text = text.replace(",http", " http")
        if "," in text:
            text = text.replace(", ", " ").replace(",//", " //").replace(",/", " /")
    return text


def _split(text: str) -> list[str]:
    return _spaced(text).split()


def _plain_links(text: str) -> list[str] | None:
    """The usual feed string, checked with a few C-speed passes over the whole text: ASCII
    ``https`` links needing no fixing. None when any link needs the careful path."""
    if not text.isascii():
        return None
    links = _spaced(text).split()
    joined = " " + " ".join(links) + " "
    if not links or joined.encode().translate(None, _SAFE_BYTES):
        return None  # a character that must be percent-encoded
    if joined.count(" https://") != len(links) or _NO_HOST_LINK.search(joined):
        return None  # a link that is not https://host...
    if len(joined) > MAX_URL and max(map(len, links)) > MAX_URL:
        return None
    return links


def image_list(value: object, base_url: str | None = None) -> list[str] | None:
    """Absolute http(s) image URLs, in order, de-duplicated; a string is split on ``, | ;``."""
    if isinstance(value, str):
        plain = _plain_links(value)
        if plain is not None:
            return list(dict.fromkeys(plain))[:MAX_IMAGES] or None
        parts: list[object] = list(_split(value))
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        return None
    seen: dict[str, None] = {}
    for part in dict.fromkeys(part for part in parts if isinstance(part, str)):
        link = url(part, base_url)
        if link is not None and link not in seen:
            seen[link] = None
            if len(seen) == MAX_IMAGES:
                break
    return list(seen) or None
