"""gunicorn's logger in the app's format (``shelfwise.serving.logs.formatter``): gunicorn.conf.py
names it as ``logger_class``. Kept apart from shelfwise.serving.logs, which the settings import,
so that only gunicorn's processes import gunicorn."""

from __future__ import annotations

from typing import Any

from gunicorn import glogging

from shelfwise.serving.logs import REQUEST_ID_HEADER, formatter


class JsonLogger(glogging.Logger):
    """gunicorn's logger, rendering its error and access lines with ``formatter()``; an
    access line is a ``request`` event with its fields, the request id among them."""

    json = True

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        shared = formatter(json=self.json)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(shared)

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        request_id = atoms.get("{" + REQUEST_ID_HEADER.lower() + "}o", "-")
        try:
            self.access_log.info(
                "request",
                extra={
                    "remote": atoms["h"],
                    "method": atoms["m"],
                    "path": atoms["U"],
                    "query": atoms["q"],
                    "status": int(atoms["s"]) if str(atoms["s"]).isdigit() else atoms["s"],
                    "bytes": atoms["B"],
                    "duration_ms": round(request_time.total_seconds() * 1000, 2),
                    "request_id": request_id,
                },
            )
        except Exception:
            self.error("could not log the request", exc_info=True)


class ConsoleLogger(JsonLogger):
    json = False
