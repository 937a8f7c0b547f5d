from __future__ import annotations

from pydantic import BaseModel, SecretStr

from partout.actors.redact import MASK, redact, secret_values


class Inner(BaseModel):
    token: SecretStr


class Options(BaseModel):
    name: str
    password: SecretStr | None = None
    inner: Inner | None = None


def test_secret_values_finds_secrets_in_nested_models() -> None:
    options = Options(name="db", password=SecretStr("hunter2"), inner=Inner(token=SecretStr("t0ken")))
    assert set(secret_values(options)) == {"hunter2", "t0ken"}


def test_redact_masks_every_secret_in_text() -> None:
    assert redact("login with hunter2 failed", ("hunter2",)) == f"login with {MASK} failed"
    assert redact(None, ("hunter2",)) is None
