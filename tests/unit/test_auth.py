"""Token minting, verification and role checks, as pure functions."""

import time

import pytest

from services.mesh.auth import (
    Principal,
    Role,
    TokenVerifier,
    authorize,
    is_open,
    mint_token,
    roles,
)
from services.mesh.config import AuthSettings
from services.mesh.errors import PermissionDenied, Unauthenticated

SETTINGS = AuthSettings(secret="unit-test-secret-that-is-long-enough-for-hs256")
TABLE = {"/ecap.v1.CaseService/GetCase": roles(Role.INVESTIGATOR, Role.LEAD)}


def test_minted_token_round_trips_subject_and_roles():
    token = mint_token(SETTINGS, subject="ivy", role_names=["investigator", "lead"])
    principal = TokenVerifier(SETTINGS).verify(f"Bearer {token}")
    assert principal == Principal("ivy", frozenset({Role.INVESTIGATOR, Role.LEAD}))


def test_unknown_role_names_are_refused_when_minting():
    with pytest.raises(ValueError, match="superuser"):
        mint_token(SETTINGS, subject="x", role_names=["superuser"])


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "TOKEN_MISSING"),
        ("", "TOKEN_MISSING"),
        ("Token abc", "TOKEN_MALFORMED"),
        ("Bearer not-a-jwt", "TOKEN_INVALID"),
    ],
)
def test_bad_headers_are_unauthenticated(header, reason):
    with pytest.raises(Unauthenticated) as caught:
        TokenVerifier(SETTINGS).verify(header)
    assert caught.value.reason == reason


def test_expired_token_is_refused_beyond_the_leeway():
    token = mint_token(SETTINGS, subject="x", role_names=["viewer"], ttl_s=1, now=time.time() - 60)
    with pytest.raises(Unauthenticated) as caught:
        TokenVerifier(SETTINGS).verify(f"Bearer {token}")
    assert caught.value.reason == "TOKEN_EXPIRED"


def test_a_remembered_token_is_refused_once_it_expires():
    strict = AuthSettings(secret=SETTINGS.secret, leeway_s=0)
    verifier = TokenVerifier(strict)
    token = mint_token(strict, subject="x", role_names=["viewer"], ttl_s=1)
    assert verifier.verify(f"Bearer {token}").subject == "x"
    time.sleep(2.1)  # past `exp` (whole seconds) with no leeway
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(f"Bearer {token}")
    assert caught.value.reason == "TOKEN_EXPIRED"


@pytest.mark.parametrize("cache_size", [0, 1])
def test_a_tampered_copy_of_a_remembered_token_is_refused(cache_size):
    verifier = TokenVerifier(AuthSettings(secret=SETTINGS.secret, verified_cache_size=cache_size))
    token = mint_token(SETTINGS, subject="x", role_names=["viewer"])
    verifier.verify(f"Bearer {token}")
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(f"Bearer {forged}")
    assert caught.value.reason == "TOKEN_BAD_SIGNATURE"
    other = mint_token(SETTINGS, subject="y", role_names=["viewer"])
    assert verifier.verify(f"Bearer {other}").subject == "y"
    assert verifier.verify(f"Bearer {token}").subject == "x"


def test_token_for_another_audience_is_refused():
    other = AuthSettings(secret=SETTINGS.secret, audience="someone-else")
    token = mint_token(other, subject="x", role_names=["viewer"])
    with pytest.raises(Unauthenticated, match=r"(?i)audience"):
        TokenVerifier(SETTINGS).verify(f"Bearer {token}")


def test_authorize_follows_the_role_table():
    authorize(Principal("ivy", roles(Role.INVESTIGATOR)), "/ecap.v1.CaseService/GetCase", TABLE)
    with pytest.raises(PermissionDenied, match="investigator, lead"):
        authorize(Principal("vic", roles(Role.VIEWER)), "/ecap.v1.CaseService/GetCase", TABLE)


def test_methods_missing_from_the_table_are_admin_only():
    with pytest.raises(PermissionDenied) as caught:
        authorize(Principal("ivy", roles(Role.LEAD)), "/ecap.v1.CaseService/Nope", TABLE)
    assert caught.value.reason == "METHOD_NOT_IN_ROLE_TABLE"
    authorize(Principal("root", roles(Role.ADMIN)), "/ecap.v1.CaseService/Nope", TABLE)


def test_health_and_reflection_are_open():
    assert is_open("/grpc.health.v1.Health/Check")
    assert is_open("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
    assert not is_open("/ecap.v1.CaseService/GetCase")


def test_no_key_source_fails_fast(tmp_path):
    settings = AuthSettings(secret=None, jwks_url=None, secret_file=tmp_path / "absent")
    with pytest.raises(ValueError, match="ECAP_JWT_SECRET"):
        TokenVerifier(settings)


def test_secret_file_is_read_when_no_secret_is_set(tmp_path):
    (tmp_path / "jwt.secret").write_text("from-the-file-" * 4 + "\n")
    settings = AuthSettings(secret=None, secret_file=tmp_path / "jwt.secret")
    assert settings.secret.get_secret_value() == "from-the-file-" * 4
