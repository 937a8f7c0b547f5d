"""Keep secret option values (pydantic SecretStr) out of reports and logs."""

from __future__ import annotations

from typing import get_args

from pydantic import BaseModel, SecretBytes, SecretStr

MASK = "**********"

# options class -> names of the fields that may hold a secret or a nested model;
# looked at once per class, so 1,000 file resources cost one scan, not 1,000.
_candidates: dict[type[BaseModel], tuple[str, ...]] = {}


def _fields_to_inspect(model: type[BaseModel]) -> tuple[str, ...]:
    names = _candidates.get(model)
    if names is None:
        names = tuple(name for name, info in model.model_fields.items() if _may_hold_secret(info.annotation))
        _candidates[model] = names
    return names


def _may_hold_secret(annotation: object) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, (BaseModel, SecretStr, SecretBytes)):
        return True
    return any(_may_hold_secret(argument) for argument in get_args(annotation))


def secret_values(options: BaseModel) -> tuple[str, ...]:
    """Every secret string held by an options model, nested models included."""
    found: list[str] = []
    for name in _fields_to_inspect(type(options)):
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
