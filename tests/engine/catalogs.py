"""Build Catalogs directly from Resource models, as the compiler would."""

from __future__ import annotations

from typing import Any

from partout.dsl.catalog import Catalog, Resource, SourceLocation
from partout.modules import registry

_META = {"require", "before", "on", "refresh_only", "onlyif", "unless", "watch", "hidden"}


def resource(module: str, title: str, **arguments: Any) -> Resource:
    meta = {key: value for key, value in arguments.items() if key in _META}
    for key in ("require", "before"):
        if key in meta:
            meta[key] = tuple(meta[key])
    options_model = registry.get(module).options
    options = options_model(**{options_model.title_field: title,
                               **{k: v for k, v in arguments.items() if k not in _META}})
    return Resource(id=f"{module}:{title}", module=module, title=title, options=options,
                    source=SourceLocation(file="test.p2", line=1), **meta)


def catalog(*resources: Resource) -> Catalog:
    return Catalog(policy="test.p2", resources=resources)
