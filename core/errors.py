"""The base of every service error: a stable code, an HTTP status, a message and optional
details.

Services raise subclasses, each naming its own ``status``; shelfwise.http.errors answers
with it. A subclass that names none keeps the base's 400 (a refusal of what was asked,
never a 500), so a new error cannot turn into a 500 by being forgotten.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    code = "service_error"
    status: int = 400

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
