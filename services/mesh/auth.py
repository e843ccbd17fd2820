"""Bearer-token authentication and per-RPC role checks.

Tokens are JWTs: HS256 with a shared secret for the embedded default, RS256 with a JWKS URL for
real deployments. The claims used are `sub`, `roles` (a list), `exp`, `iss` and `aud`. Each
servicer declares a role table, `{"/ecap.v1.X/Method": {Role.ANALYST, ...}}`; `admin` may call
everything, and health and reflection are open to all.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import jwt

from services.mesh.config import AuthSettings
from services.mesh.errors import PermissionDenied, Unauthenticated


class Role(StrEnum):
    """The roles a token may carry."""

    ADMIN = "admin"
    LEAD = "lead"
    INVESTIGATOR = "investigator"
    ANALYST = "analyst"
    SERVICE = "service"
    VIEWER = "viewer"


RoleTable = Mapping[str, frozenset[Role]]

OPEN_METHOD_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject and roles."""

    subject: str
    roles: frozenset[Role] = field(default_factory=frozenset)

    def has_any(self, roles: Iterable[Role]) -> bool:
        """True when the principal holds at least one of `roles`."""
        return bool(self.roles & set(roles))


ANONYMOUS = Principal(subject="anonymous")
_current: contextvars.ContextVar[Principal] = contextvars.ContextVar(
    "ecap_principal", default=ANONYMOUS
)


def current_principal() -> Principal:
    """The caller of the RPC being handled (set by the mesh interceptor)."""
    return _current.get()


def set_current_principal(principal: Principal) -> contextvars.Token[Principal]:
    """Bind the caller for the running RPC; returns the token to reset it."""
    return _current.set(principal)


def roles(*names: Role) -> frozenset[Role]:
    """Shorthand for a role-table entry."""
    return frozenset(names)


def mint_token(
    settings: AuthSettings,
    *,
    subject: str,
    role_names: Iterable[str],
    ttl_s: float = 3600,
    now: float | None = None,
) -> str:
    """A signed HS256 development token for `subject` with `role_names`."""
    if settings.secret is None:
        settings.require_key_source()
        raise ValueError("minting needs ECAP_JWT_SECRET: RS256 tokens come from your IdP")
    granted = [Role(name).value for name in role_names]
    issued = int(now if now is not None else time.time())
    claims = {
        "sub": subject,
        "roles": granted,
        "iss": settings.issuer,
        "aud": settings.audience,
        "iat": issued,
        "exp": issued + int(ttl_s),
    }
    return jwt.encode(claims, settings.secret.get_secret_value(), algorithm="HS256")


class TokenVerifier:
    """Turns an `authorization` header value into a `Principal`, or raises `Unauthenticated`."""

    def __init__(self, settings: AuthSettings) -> None:
        settings.require_key_source()
        self._settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwks_url) if settings.jwks_url else None
        # token -> (principal, expiry): a token is immutable, so once its signature, issuer
        # and audience verified, only its expiry can change the answer.
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._verified_lock = threading.Lock()

    def verify(self, authorization: str | None) -> Principal:
        """Check signature, expiry, issuer and audience; return who the token is for."""
        if not authorization:
            raise Unauthenticated(
                "missing bearer token: send metadata 'authorization: Bearer <jwt>' "
                "(`ecap token --role R --sub NAME` mints one for development)",
                reason="TOKEN_MISSING",
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated(
                "authorization metadata must be 'Bearer <jwt>'", reason="TOKEN_MALFORMED"
            )
        token = token.strip()
        with self._verified_lock:
            remembered = self._verified.pop(token, None)
            if remembered is not None and time.time() <= remembered[1] + self._settings.leeway_s:
                self._verified[token] = remembered
                return remembered[0]
        try:
            claims = self._decode(token)
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("token expired", reason="TOKEN_EXPIRED") from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthenticated(
                "token signature does not verify", reason="TOKEN_BAD_SIGNATURE"
            ) from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}", reason="TOKEN_INVALID") from exc
        principal = Principal(subject=str(claims["sub"]), roles=_parse_roles(claims.get("roles")))
        self._remember(token, principal, float(claims["exp"]))
        return principal

    def _remember(self, token: str, principal: Principal, expires: float) -> None:
        if self._settings.verified_cache_size == 0:
            return
        with self._verified_lock:
            self._verified[token] = (principal, expires)
            if len(self._verified) > self._settings.verified_cache_size:
                self._verified.popitem(last=False)

    def _decode(self, token: str) -> dict:
        options = {"require": ["exp", "sub"]}
        common = {
            "audience": self._settings.audience,
            "issuer": self._settings.issuer,
            "leeway": self._settings.leeway_s,
            "options": options,
        }
        if self._jwks is not None and jwt.get_unverified_header(token).get("alg") == "RS256":
            key = self._jwks.get_signing_key_from_jwt(token).key
            return jwt.decode(token, key, algorithms=["RS256"], **common)
        if self._settings.secret is None:
            raise jwt.InvalidAlgorithmError("only RS256 tokens are accepted here")
        return jwt.decode(
            token, self._settings.secret.get_secret_value(), algorithms=["HS256"], **common
        )


def _parse_roles(raw: object) -> frozenset[Role]:
    if not isinstance(raw, list):
        return frozenset()
    known = {r.value for r in Role}
    return frozenset(Role(r) for r in raw if isinstance(r, str) and r in known)


def is_open(method: str) -> bool:
    """Health and reflection need no token."""
    return method.startswith(OPEN_METHOD_PREFIXES)


def authorize(principal: Principal, method: str, table: RoleTable) -> None:
    """Raise `PermissionDenied` unless `principal` may call `method`."""
    if Role.ADMIN in principal.roles:
        return
    allowed = table.get(method)
    if allowed is None:
        raise PermissionDenied(
            f"{method} is not in the service's role table; only admin may call it",
            reason="METHOD_NOT_IN_ROLE_TABLE",
        )
    if not principal.has_any(allowed):
        held = ", ".join(sorted(principal.roles)) or "none"
        need = ", ".join(sorted(allowed))
        raise PermissionDenied(
            f"{method} needs one of the roles [{need}]; the token has [{held}]",
            reason="ROLE_NOT_ALLOWED",
        )
