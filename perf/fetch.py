"""The fetch mode that relation bundles apply to their querysets, chosen per profile.

A selector's bundle (``with_detail_relations()``...) loads what its serializer needs; any
other lazy relation or deferred field is a bug. ``FETCH_RAISE`` (dev, tests) makes that
bug fail at the exact line that touched it. ``FETCH_PEERS`` (staging, prod) turns the same
bug into one batched query for all the instances of the page instead of one per row, so a
miss degrades gracefully instead of becoming a 500 or an N+1.
"""

from __future__ import annotations

from django.db.models import FETCH_ONE, FETCH_PEERS, FETCH_RAISE
from django.db.models.fetch_modes import FetchMode

from perf.conf import perf_settings

_MODES: dict[str, FetchMode] = {
    "FETCH_ONE": FETCH_ONE,
    "FETCH_PEERS": FETCH_PEERS,
    "FETCH_RAISE": FETCH_RAISE,
}


def bundle_fetch_mode() -> FetchMode:
    return _MODES[perf_settings().FETCH_MODE]
