"""Keep secret option values (pydantic SecretStr) out of reports and logs."""

from __future__ import annotations

from pydantic import BaseModel, SecretBytes, SecretStr

MASK = "**********"


def secret_values(options: BaseModel) -> tuple[str, ...]:
    """Every secret string held by an options model, nested models included."""
    found: list[str] = []
    for name in type(options).model_fields:
        value = getattr(options, name, None)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, SecretBytes):
            found.append(value.get_secret_value().decode(errors="replace"))
        elif isinstance(value, BaseModel):
            found.extend(secret_values(value))
    return tuple(secret for secret in found if secret)


def redact(text: str | None, secrets: tuple[str, ...]) -> str | None:
    if text is None or not secrets:
        return text
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text
