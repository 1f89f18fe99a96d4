"""ISBNs as text, in one place: what the API accepts, how it is cleaned before storing, what
the admin's search box takes for one, and valid ISBN-13s for generated catalogs.

A book stores its ISBN compact: the digits (and a final upper-case X) without the hyphens
and spaces people write between the groups.
"""

from __future__ import annotations

import re

# The longest ISBN as sent: 13 digits and 4 separators.
ISBN_MAX_LENGTH = 17
# The rule on the text as sent, separators included, as the API schema publishes it.
ISBN_PATTERN = r"^(?:(?:[ -]*[0-9]){9}[ -]*[0-9Xx]|(?:[ -]*[0-9]){13})[ -]*$"

_SEPARATORS = re.compile(r"[ -]")
_COMPACT = re.compile(r"^(?:[0-9]{13}|[0-9]{9}[0-9X])$")  # ASCII digits only, not \d
# Looser, for a search term: digits (and a final X) with optional spaces or hyphens.
_SEARCH_TERM = re.compile(r"^[0-9][0-9 -]{8,15}[0-9Xx]$")


def isbn_compact(text: str) -> str:
    """``text`` without its separators (hyphens, spaces), a final x upper-cased; not checked."""
    return _SEPARATORS.sub("", text).upper()


def isbn_clean(text: str) -> str | None:
    """The ISBN-10 or ISBN-13 in ``text``, compact, as it is stored; None if it is not one."""
    value = isbn_compact(text)
    return value if _COMPACT.fullmatch(value) else None


def looks_like_isbn(term: str) -> bool:
    """A search term that is meant as an ISBN (the admin looks it up exactly)."""
    return bool(_SEARCH_TERM.match(term))


def isbn13(n: int) -> str:
    """A valid ISBN-13 (978 prefix, check digit) made from the last nine digits of ``n``."""
    digits = f"978{n % 10**9:09d}"
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits))
    return f"{digits}{(10 - total % 10) % 10}"
