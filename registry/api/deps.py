"""Dependencies of the routes: the core and settings of the running app, who is calling, checked path parameters."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from registry.config import RegistrySettings
from registry.core import Principal, RegistryCore
from registry.errors import InvalidRequest, Unauthorized
from tracecert.certificate.canonical import HEX32_PATTERN

__all__ = [
    "MAX_CURSOR",
    "CoreDep",
    "DigestPath",
    "LabIdPath",
    "MaybePrincipalDep",
    "PrincipalDep",
    "RootPath",
    "SettingsDep",
    "check_hex32",
    "check_text",
    "token_optional",
]

_HEX32 = re.compile(HEX32_PATTERN)

#: Cursors are row ids, 32-bit integers in the database (PostgreSQL refuses larger values in a comparison).
MAX_CURSOR = 2**31 - 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def get_core(request: Request) -> RegistryCore:
    """The registry core the app was started with."""
    core: RegistryCore | None = getattr(request.app.state, "core", None)
    if core is None:  # only when the app is served without its lifespan
        raise RuntimeError("the registry core is not open (was the app's lifespan run?)")
    return core


def get_settings(request: Request) -> RegistrySettings:
    """The settings of the app (HTTP limits, public URLs)."""
    settings: RegistrySettings = request.app.state.settings
    return settings


CoreDep = Annotated[RegistryCore, Depends(get_core)]
SettingsDep = Annotated[RegistrySettings, Depends(get_settings)]

_bearer = HTTPBearer(
    auto_error=False, description="An API token of a lab or a regulator: `Authorization: Bearer tc_...`"
)
_Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _principal(core: CoreDep, credentials: _Credentials, request: Request) -> Principal:
    if credentials is None and request.headers.get("authorization"):
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return core.authenticate(credentials.credentials if credentials else None)


def _maybe_principal(core: CoreDep, credentials: _Credentials, request: Request) -> Principal | None:
    # Reads are public; a token, if given, must be valid (a wrong one is refused, not ignored).
    if credentials is None and not request.headers.get("authorization"):
        return None
    return _principal(core, credentials, request)


PrincipalDep = Annotated[Principal, Depends(_principal)]
"""The caller; 401 UNAUTHORIZED without a valid token."""

MaybePrincipalDep = Annotated[Principal | None, Depends(_maybe_principal)]
"""The caller if a token is given (401 if it is not valid), else None."""


def token_optional(route: APIRoute) -> bool:
    """Whether the route reads :data:`MaybePrincipalDep`: a token is optional (OpenAPI says so with ``{}``)."""
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if dependant.call is _maybe_principal:
            return True
        stack.extend(dependant.dependencies)
    return False


def check_hex32(value: str, name: str, code: str) -> str:
    """``value`` if it is ``0x`` + 64 lowercase hex digits.

    Raises:
        InvalidRequest: ``code`` (INVALID_DIGEST, INVALID_LAB_ID, INVALID_ROOT) naming ``name``.
    """
    if not _HEX32.match(value):
        raise InvalidRequest(
            f"{name} must be 0x followed by 64 lowercase hex digits",
            code=code,
            details=[{"field": name, "rule": "hex32", "message": "0x + 64 lowercase hex digits"}],
        )
    return value


def check_text(value: str | None, name: str) -> None:
    """Refuse control characters in a text parameter (nothing stored has them; PostgreSQL refuses NUL).

    Raises:
        InvalidRequest: REQUEST_INVALID naming ``name``.
    """
    if value is not None and _CONTROL.search(value):
        raise InvalidRequest(
            f"{name} must not contain control characters",
            code="REQUEST_INVALID",
            details=[{"field": name, "rule": "no_control_characters", "message": "no control characters"}],
        )


# The pattern is documented (OpenAPI) but checked here, so a bad value gets its own code, not a generic 422.
_hex32_doc = {"pattern": HEX32_PATTERN}


def _digest(digest: Annotated[str, Path(description="Certificate digest", json_schema_extra=_hex32_doc)]) -> str:
    return check_hex32(digest, "digest", "INVALID_DIGEST")


def _lab_id(lab_id: Annotated[str, Path(description="Lab id", json_schema_extra=_hex32_doc)]) -> str:
    return check_hex32(lab_id, "lab_id", "INVALID_LAB_ID")


def _root(root: Annotated[str, Path(description="Merkle root of a batch", json_schema_extra=_hex32_doc)]) -> str:
    return check_hex32(root, "root", "INVALID_ROOT")


DigestPath = Annotated[str, Depends(_digest)]
LabIdPath = Annotated[str, Depends(_lab_id)]
RootPath = Annotated[str, Depends(_root)]
