"""The OpenAPI contract every view gets by default (`REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]`).

drf-spectacular documents what a view declares (its serializers, `extend_schema`); this
AutoSchema adds what the HTTP edge does to every request, so a new view cannot forget it:

- the errors it can answer, under `application/problem+json` with the one `Problem`
  schema, each status listing the problem `type`s it can carry (in the description and in
  `x-problem-types`): the ones every view of its kind can raise (401 where it authenticates,
  404 where the path names something, 429 where it is throttled, 503 always, ...) plus the
  ones a view method declares with `@raises(SomeError, ...)`;
- `Idempotency-Key` on every method decorated with `idempotent` (and `Idempotent-Replayed`
  on its answers), read from the decorator itself so the two cannot drift apart;
- `X-Request-ID` on every answer, and `Retry-After` where waiting helps;
- only `application/json` on success answers (the problem+json renderer exists for clients
  that accept nothing else, not as a second success format).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import SAFE_METHODS, AllowAny

from commerce_project.errors import ApplicationError

from .errors import IdempotencyKeyReused, RequestInProgress, http_status
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import REPLAY_HEADER, honours_idempotency_key
from .problems import CONTENT_TYPE as PROBLEM_CONTENT_TYPE
from .request_id import HEADER as REQUEST_ID_HEADER

SUCCESS_CONTENT_TYPE = "application/json"

# The extension members the API sends beside type/title/status/detail (see problems.py and
# the `extra` of each ApplicationError); any other member may appear too.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem: every error of the API has this shape.",
    "properties": {
        "type": {
            "type": "string",
            "description": "A stable slug to branch on; each response lists the ones it uses.",
        },
        "title": {"type": "string"},
        "status": {"type": "integer", "description": "The HTTP status code, repeated."},
        "detail": {"type": "string", "description": "What went wrong, for a person."},
        "request_id": {
            "type": "string",
            "nullable": True,
            "description": "The X-Request-ID of the request, as logged.",
        },
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "invalid-input: messages by field (`items[0].quantity`).",
        },
        "retry_after": {
            "type": "integer",
            "description": "throttled: seconds to wait (as the Retry-After header).",
        },
        # members of the domain errors (their `extra`), present where the error has them
        "order_id": {"type": "string", "format": "uuid"},
        "product_id": {"type": "string", "format": "uuid"},
        "transition": {"type": "string"},
        "current_status": {"type": "string"},
        "allowed_transitions": {"type": "array", "items": {"type": "string"}},
        "unmet_conditions": {"type": "array", "items": {"type": "string"}},
        "required_permission": {"type": "string", "nullable": True},
        "current_version": {"type": "integer"},
        "expected_version": {"type": "integer"},
        "available": {"type": "integer"},
        "lines": {
            "type": "array",
            "description": "out-of-stock: each short line.",
            "items": {
                "type": "object",
                "properties": {
                    "product_id": {"type": "string", "format": "uuid"},
                    "requested": {"type": "integer"},
                    "available": {"type": "integer"},
                },
                "required": ["product_id", "requested", "available"],
            },
        },
        "total": {"type": "string", "format": "decimal"},
        "expected_total": {"type": "string", "format": "decimal"},
        "currency": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail", "request_id"],
    "additionalProperties": True,
}

_PHRASES = {
    400: "Invalid input",
    401: "Not signed in (no, an unknown, or a revoked token)",
    403: "Not allowed",
    404: "Not found (or not yours)",
    409: "Conflicts with the current state",
    412: "If-Match names a version the resource has moved past",
    415: "The body is not JSON",
    422: "Idempotency-Key reused for a different request",
    429: "Too many requests",
    503: "A backing service is unavailable",
}

# Request headers that only select an answer, never refuse one.
_NEVER_INVALID = frozenset({"If-None-Match"})

Method = TypeVar("Method", bound=Callable[..., Any])

_RAISES_ATTRIBUTE = "documented_errors"


def raises(*errors: type[ApplicationError]) -> Callable[[Method], Method]:
    """Declare the application errors a view method answers (besides those every view of
    its kind does, see `CommerceAutoSchema.problem_types`), for its schema."""

    def declare(method: Method) -> Method:
        setattr(method, _RAISES_ATTRIBUTE, (*getattr(method, _RAISES_ATTRIBUTE, ()), *errors))
        return method

    return declare


def _status_of(error: type[ApplicationError]) -> int:
    # http_status decides by family (isinstance); the class is enough to ask it.
    return http_status(error.__new__(error))


def _header(description: str, schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    return {"schema": schema, "description": description, "required": required}


REQUEST_ID_RESPONSE_HEADER = _header(
    "The request's id (the client's X-Request-ID when sane, else a new one), on every "
    "answer and every log line.",
    {"type": "string"},
    required=True,
)
RETRY_AFTER_RESPONSE_HEADER = _header(
    "Seconds after which the same request may succeed.", {"type": "integer"}, required=True
)

# Response headers a view declares in `extend_schema(parameters=[...])`.
ETAG_RESPONSE_HEADER = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=True,
    required=True,
    description='The order\'s version, quoted ("3"): send it back as If-Match or If-None-Match.',
)


def location_header(*statuses: int) -> OpenApiParameter:
    return OpenApiParameter(
        "Location",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=list(statuses),
        required=True,
        description="The path of the resource the answer is about.",
    )


def _string_or_number(field: serializers.DecimalField, schema: dict[str, Any]) -> dict[str, Any]:
    """DRF's DecimalField takes "12.50" and 12.5 alike; answers always carry the string."""
    as_string = {k: schema[k] for k in ("type", "format", "pattern") if k in schema}
    meta = {k: v for k, v in schema.items() if k not in as_string}
    as_number: dict[str, Any] = {"type": "number"}
    if field.max_whole_digits is not None:
        bound = 10**field.max_whole_digits
        as_number.update(
            maximum=bound, minimum=-bound, exclusiveMaximum=True, exclusiveMinimum=True
        )
    if field.max_value is not None:
        as_number.update(maximum=field.max_value, exclusiveMaximum=False)
    if field.min_value is not None:
        as_number.update(minimum=field.min_value, exclusiveMinimum=False)
    return {"oneOf": [as_string, as_number], **meta}


class CommerceAutoSchema(AutoSchema):
    def view_method(self) -> Any:
        name = getattr(self.view, "action", None) or self.method.lower()
        return getattr(self.view, name, None)

    def is_idempotent(self) -> bool:
        return honours_idempotency_key(self.view_method())

    def map_renderers(self, attribute: str) -> list[Any]:
        media_types = super().map_renderers(attribute)
        if attribute == "media_type":
            return [m for m in media_types if m != PROBLEM_CONTENT_TYPE]
        return media_types

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        parameters.append(
            OpenApiParameter(
                REQUEST_ID_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                response=True,
                required=True,
                description=REQUEST_ID_RESPONSE_HEADER["description"],
            )
        )
        if self.is_idempotent():
            parameters += [
                OpenApiParameter(
                    IDEMPOTENCY_HEADER,
                    {"type": "string", "minLength": 1, "maxLength": 255},
                    OpenApiParameter.HEADER,
                    description="Repeat a command safely: the same key and body within "
                    "IDEMPOTENCY_KEY_TTL replay the first 2xx answer (with "
                    "Idempotent-Replayed: true); the same key with another body is a 422. "
                    "Honoured for signed-in callers (and anonymous ones on a cart's URL).",
                ),
                OpenApiParameter(
                    REPLAY_HEADER,
                    {"type": "string", "enum": ["true"]},
                    OpenApiParameter.HEADER,
                    response=True,
                    description="Present when this answer replays the first one for the key.",
                ),
            ]
        return parameters

    def _map_serializer_field(
        self, field: Any, direction: str, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.DecimalField)
            and schema.get("type") == "string"
        ):
            return _string_or_number(field, schema)
        return schema

    # --- errors

    def authenticates(self) -> bool:
        return bool(self.view.get_authenticators())

    def anonymous_allowed(self) -> bool:
        return all(isinstance(p, AllowAny) for p in self.view.get_permissions())

    def problem_types(self, operation: dict[str, Any]) -> dict[int, set[str]]:
        """{status: problem types} this operation can answer."""
        types: dict[int, set[str]] = defaultdict(set)
        parameters = operation.get("parameters", [])
        takes_input = "requestBody" in operation or any(
            p["in"] != "path" and p["name"] not in _NEVER_INVALID for p in parameters
        )
        if takes_input:
            types[400].add("invalid-input")
        if "requestBody" in operation:
            types[415].add("unsupported-media-type")
        if self.authenticates():
            types[401].add("not-authenticated")
        if not self.anonymous_allowed() or (
            self.method not in SAFE_METHODS
            and any(isinstance(a, SessionAuthentication) for a in self.view.get_authenticators())
        ):
            # (a signed-in browser session without its CSRF token is refused too)
            types[403].add("forbidden")
        if any(p["in"] == "path" for p in parameters) or any(
            p["in"] == "query" and p["name"] == "page" for p in parameters
        ):
            # (a page past the last one is not found either)
            types[404].add("not-found")
        if any(p["in"] == "header" and p["name"] == "If-Match" for p in parameters):
            types[400].add("invalid-input")
            types[412].add("concurrency-conflict")
        if self.is_idempotent():
            types[400].add("invalid-input")
            for error in (RequestInProgress, IdempotencyKeyReused):
                types[_status_of(error)].add(error.type)
        if self.view.get_throttles():
            types[429].add("throttled")
        types[503].add("service-unavailable")
        for error in getattr(self.view_method(), _RAISES_ATTRIBUTE, ()):
            types[_status_of(error)].add(error.type)
        return types

    def problem_response(self, status: int, types: Iterable[str]) -> dict[str, Any]:
        listed = sorted(types)
        headers: dict[str, Any] = {REQUEST_ID_HEADER: REQUEST_ID_RESPONSE_HEADER}
        if status == 503:
            headers["Retry-After"] = RETRY_AFTER_RESPONSE_HEADER
        elif status == 429:
            # DRF leaves it out when the wait has already run down to zero
            headers["Retry-After"] = {**RETRY_AFTER_RESPONSE_HEADER, "required": False}
        elif status == 409:
            headers["Retry-After"] = _header(
                "On a conflict that clears by itself (a request in progress, a busy saga): "
                "seconds to wait before retrying.",
                {"type": "integer"},
            )
        return {
            "description": f"{_PHRASES.get(status, 'Error')}. Problem types: "
            + ", ".join(f"`{t}`" for t in listed)
            + ".",
            "headers": headers,
            "content": {PROBLEM_CONTENT_TYPE: {"schema": self.problem_component().ref}},
            "x-problem-types": listed,
        }

    def problem_component(self) -> ResolvedComponent:
        component = ResolvedComponent(
            name="Problem",
            type=ResolvedComponent.SCHEMA,
            object="Problem",
            schema=PROBLEM_SCHEMA,
        )
        self.registry.register_on_missing(component)
        return component

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation: dict[str, Any] | None = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses: dict[str, Any] = operation["responses"]
        for status, types in sorted(self.problem_types(operation).items()):
            responses.setdefault(str(status), self.problem_response(status, types))
        return operation
