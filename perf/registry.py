"""How apps hand perf their hot paths, without perf importing any app.

An app registers, usually from its ``AppConfig.ready()``, how to *serve* each hot path:
``prepare(subject)`` looks up what a request needs (a user, an id) and returns a callable
that runs the code serving the path (the view, its selector, the real paginator).
``manage.py explain`` records every statement that callable sends and plans each one as
it ran, so a change anywhere on the path (the pagination, a selector, a queryset bundle)
changes what is planned, while the look-ups of ``prepare`` are not planned::

    from perf.registry import hot_queries
    hot_queries.register_subject(load_tenant, default=largest_tenant, sizes=tenant_sizes)
    hot_queries.register("catalog page (first)", lambda t: partial(api_get, "/books", t))

What a registration states is checked against the plans (``perf.explain``): ``page_rows``
(a page: no sort and no growth past it), ``covering`` (rows past the page come from an
index alone), ``whole_subject`` (reads all of the subject's rows by design: an export),
``ranked_by`` (sorts every match by a computed rank).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PAGE_ROWS = 50


@dataclass(frozen=True)
class HotQuery:
    name: str
    # Given a subject, returns what serves the hot query for it; every statement that
    # sends is planned (what the returned callable returns is ignored).
    prepare: Callable[[Any], Callable[[], object]]
    # The rows one call serves: a sort over more rows, or a scan whose rows grow with the
    # subject past ten pages, is a finding.
    page_rows: int = DEFAULT_PAGE_ROWS
    # Rows read beyond the page (an OFFSET's skipped rows, a deferred join's id list) come
    # from an index alone: any other scan reading more than a page is a finding.
    covering: bool = False
    # Reads every row of the subject by design (an export): its rows may grow with the
    # subject, but it must still never sort them.
    whole_subject: bool = False
    # Ordered by a rank computed per row (``ts_rank``): its statement sorts every match, as
    # ranking must, and reads more as the subject grows. It must show that sort: a path
    # registered as ranked whose plans sort by no such call is a finding.
    ranked_by: str = ""


@dataclass
class HotQueryRegistry:
    queries: dict[str, HotQuery] = field(default_factory=dict)
    # Turns the command's --subject (a tenant slug, say) into what prepare() takes; set by
    # register_subject().
    subject_loader: Callable[[str], Any] | None = None
    # The subject to use without --subject (the largest tenant, say).
    default_subject: Callable[[], str] | None = None
    # Every subject's size (a tenant's books, say): the same hot path is planned for a
    # smaller subject too, to see which plan nodes grow with the size.
    subject_sizes: Callable[[], Mapping[str, int]] | None = None

    def register_subject(
        self,
        loader: Callable[[str], Any],
        *,
        default: Callable[[], str] | None = None,
        sizes: Callable[[], Mapping[str, int]] | None = None,
    ) -> None:
        """Name what the hot paths take (``--subject``), once: a second registration,
        by another app say, is an error rather than a silent replacement."""
        if self.subject_loader is not None and self.subject_loader is not loader:
            raise ValueError(
                f"a subject loader is already registered ({self.subject_loader!r}); "
                "one project registers one"
            )
        self.subject_loader = loader
        self.default_subject = default
        self.subject_sizes = sizes

    def register(
        self,
        name: str,
        prepare: Callable[[Any], Callable[[], object]],
        *,
        page_rows: int = DEFAULT_PAGE_ROWS,
        covering: bool = False,
        whole_subject: bool = False,
        ranked_by: str = "",
    ) -> None:
        if name in self.queries:
            raise ValueError(f"hot query {name!r} is already registered")
        if page_rows < 1:
            raise ValueError(f"hot query {name!r}: page_rows must be at least 1")
        self.queries[name] = HotQuery(name, prepare, page_rows, covering, whole_subject, ranked_by)

    def comparison_subject(self, key: str) -> tuple[str, int, int] | None:
        """A subject at most half the size of ``key`` (the largest such), with both
        sizes: ``(other, size of key, size of other)``; None when there is none."""
        if self.subject_sizes is None:
            return None
        sizes = dict(self.subject_sizes())
        size = sizes.get(key, 0)
        smaller = [(n, k) for k, n in sizes.items() if k != key and 0 < 2 * n <= size]
        if not smaller:
            return None
        n, other = max(smaller)
        return other, size, n


hot_queries = HotQueryRegistry()
