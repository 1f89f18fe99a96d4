"""OpenAPI wiring: the shared error shape on every operation, and the bearer scheme."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import serializers


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code.")
    message = serializers.CharField(help_text="Human-readable summary.")
    details = serializers.JSONField(
        allow_null=True, help_text="Per-field or per-row specifics; null when there are none."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


_ERROR_DESCRIPTIONS = {
    "400": "Invalid input (validation, malformed JSON, bad query parameter).",
    "401": "Missing, unknown or revoked bearer token.",
    "403": "The token's role may not do this (catalog writes need an operator).",
    "404": "Not found (another tenant's object is not found either).",
    "413": "Request body too large.",
    "429": "Throttled; see the Retry-After header.",
}


class AutoSchema(SpectacularAutoSchema):
    """Documents the shared error shape on every operation, for the codes it can return.

    Views declare their own extra codes (409, 422) as ``OpenApiResponse(description=...)``
    without a body; the error body is filled in here.
    """

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if not self.path.startswith("/api/v2"):
            return responses
        error_content = self._get_response_for_code(ErrorSerializer, "400")["content"]
        for code in self._error_codes():
            responses.setdefault(code, {"description": _ERROR_DESCRIPTIONS[code]})
        for code, response in responses.items():
            if code >= "400" and "content" not in response:
                response["content"] = error_content
        return responses

    def _unwrap_list_serializer(self, serializer: Any, direction: Any) -> Any:
        """Arrays also carry the list's own bounds (``min_length`` / ``max_length``),
        which drf-spectacular leaves out."""
        schema = super()._unwrap_list_serializer(serializer, direction)
        if isinstance(serializer, serializers.ListSerializer) and schema:
            if serializer.min_length is not None:
                schema["minItems"] = serializer.min_length
            if serializer.max_length is not None:
                schema["maxItems"] = serializer.max_length
        return schema

    def _error_codes(self) -> list[str]:
        from tenants.permissions import IsOperator, IsOperatorOrReadOnly

        codes = ["400", "401", "429"]
        if self.method in {"POST", "PUT", "PATCH", "DELETE"}:
            operator_only = (IsOperator, IsOperatorOrReadOnly)
            if any(isinstance(p, operator_only) for p in self.view.get_permissions()):
                codes.append("403")
        if "{" in self.path:
            codes.append("404")
        if self.method in {"POST", "PUT", "PATCH"}:
            codes.append("413")
        return codes


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return build_bearer_security_scheme_object(
            header_name="Authorization",
            token_prefix="Bearer",  # noqa: S106 - the HTTP scheme name, not a secret
            bearer_format="sw_<token>",
        )
