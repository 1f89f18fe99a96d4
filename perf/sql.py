"""SQL statement shapes: the same query with other values has the same shape."""

from __future__ import annotations

import re
from functools import lru_cache

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.\"])-?\d+(?:\.\d+)?(?![\w\"])")
_PLACEHOLDER_LIST = re.compile(r"\(\s*(?:%s|\?|\$\d+)(?:\s*,\s*(?:%s|\?|\$\d+))*\s*\)")
_ANY_ARRAY = re.compile(r"=\s*ANY\s*\(\s*(?:ARRAY\s*\[[^\]]*\]|%s)\s*\)", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_FROM_TABLE = re.compile(r'\bFROM\s+"?([\w.]+)"?', re.IGNORECASE)
_WRITE_TABLE = re.compile(r'\b(?:UPDATE|INTO|DELETE\s+FROM)\s+"?([\w.]+)"?', re.IGNORECASE)


@lru_cache(maxsize=4096)
def shape(sql: str) -> str:
    """Normalise literals and fold IN-lists of any length into one shape.

    >>> shape('SELECT * FROM "a" WHERE "a"."id" IN (%s, %s, %s) AND x = 3')
    'SELECT * FROM "a" WHERE "a"."id" IN (...) AND x = ?'
    """
    out = _STRING.sub("?", sql)
    out = _PLACEHOLDER_LIST.sub("(...)", out)
    out = _ANY_ARRAY.sub("= ANY(...)", out)
    out = _NUMBER.sub("?", out)
    out = out.replace("%s", "?")
    return _WHITESPACE.sub(" ", out).strip()


def is_select(sql: str) -> bool:
    return sql.lstrip().upper().startswith(("SELECT", "WITH"))


def main_table(sql: str) -> str | None:
    """The first table a statement reads (SELECT) or writes."""
    match = _FROM_TABLE.search(sql) if is_select(sql) else _WRITE_TABLE.search(sql)
    return match.group(1) if match else None


_COUNT = re.compile(r"\s*SELECT\s+COUNT\(", re.IGNORECASE)


def is_count(sql: str) -> bool:
    """``SELECT COUNT(...)``: what ``QuerySet.count()`` sends."""
    return _COUNT.match(sql) is not None
