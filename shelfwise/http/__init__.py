"""The HTTP edge: error answers, middleware, DRF's parsers, pagination, filters,
throttling, OpenAPI schema and OPTIONS metadata, the method contract of plain views."""
