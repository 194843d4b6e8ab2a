"""How the OpenAPI schema describes token authentication: an `http` `bearer` scheme, so a
generated client sends `Authorization: Bearer <token>` (`Token <token>` is accepted too)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.TokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A token from POST /api/v1/auth/token/ (one per device, expiring). "
                "`Authorization: Bearer <token>`; the older `Token <token>` is accepted too."
            ),
        }
