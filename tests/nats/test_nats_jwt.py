"""NATS JWTs signed with nkeys, and the permission claims they carry."""

from __future__ import annotations

import nkeys
import pytest

from partout import subjects
from partout.errors import BusError
from partout.nats import jwt, permissions


def test_a_signed_jwt_decodes_to_its_claims() -> None:
    issuer = jwt.create_key(nkeys.PREFIX_BYTE_ACCOUNT)
    token = jwt.encode({"sub": "UABC", "aud": "PARTOUT"}, issuer)
    claims = jwt.decode(token, issuer=issuer.public_key.decode())
    assert (claims["sub"], claims["aud"], claims["iss"]) == ("UABC", "PARTOUT", issuer.public_key.decode())
    assert "=" not in token


def test_a_tampered_jwt_is_rejected() -> None:
    issuer = jwt.create_key(nkeys.PREFIX_BYTE_ACCOUNT)
    head, payload, signature = jwt.encode({"sub": "UABC"}, issuer).split(".")
    forged = jwt.encode({"sub": "UEVIL"}, issuer).split(".")[1]
    with pytest.raises(jwt.JwtError, match="signature does not verify"):
        jwt.decode(f"{head}.{forged}.{signature}")


def test_a_jwt_from_another_issuer_is_rejected() -> None:
    issuer, other = jwt.create_key(nkeys.PREFIX_BYTE_ACCOUNT), jwt.create_key(nkeys.PREFIX_BYTE_ACCOUNT)
    with pytest.raises(jwt.JwtError, match="expected"):
        jwt.decode(jwt.encode({"sub": "U"}, other), issuer=issuer.public_key.decode())


def test_an_agents_permissions_name_only_its_own_subjects() -> None:
    claims = permissions.agent("web1", "prod").claims()
    assert claims["pub"] == {"allow": list(permissions.agent("web1", "prod").publish_allow)}
    published = claims["pub"]["allow"]  # type: ignore[index]
    assert subjects.agent_report("web1") in published and subjects.agent_events("web1") in published
    assert subjects.agent_all("web1") not in published and subjects.agent_control("web1") not in published
    assert "resp" not in claims
    assert not any("web2" in subject or subject in (">", "partout.>")
                   for subject in claims["pub"]["allow"] + claims["sub"]["allow"])  # type: ignore[index, operator]


def test_a_role_with_nothing_to_subscribe_denies_everything_rather_than_allowing_it() -> None:
    claims = permissions.Permissions(publish_allow=(subjects.ENROL,)).claims()
    assert claims["sub"] == {"allow": [], "deny": [">"]}


def test_an_agent_id_that_would_widen_a_subject_is_refused() -> None:
    for bad in ("web1.>", "*", "", "a b"):
        with pytest.raises(BusError, match="cannot be used in a NATS subject"):
            subjects.agent_events(bad)
