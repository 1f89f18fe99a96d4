"""The base of every service error: a stable code, a message and optional details.

Services raise subclasses; shelfwise.http.errors maps each class to an HTTP status, and any
subclass it does not list gets the base's 400 (a refusal of what was asked, never a 500).
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    code = "service_error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
