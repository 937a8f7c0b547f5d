from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from partout.dsl.catalog import Catalog
from partout.dsl.compiler import compile_policy
from partout.modules import registry

# the probe modules below are imported by name through the registry
sys.path.insert(0, str(Path(__file__).parent))

from dsl_support import Compile  # noqa: E402

TEST_MODULES = {"probe": "dsl_probe_module", "guarded": "dsl_guarded_module"}


@pytest.fixture(autouse=True)
def probe_modules() -> Iterator[None]:
    """Register the test-only directives, then put back whatever was registered under
    those names before (tests/engine registers its own `probe`; `partout doc` lists every
    module), so other suites never see ours."""
    saved = {name: (registry._MODULES.get(name), registry._loaded.get(name)) for name in TEST_MODULES}
    for name, python_module in TEST_MODULES.items():
        registry.register(name, python_module)
    yield
    for name, (python_module, loaded) in saved.items():
        registry._MODULES.pop(name, None)
        registry._loaded.pop(name, None)
        if python_module is not None:
            registry._MODULES[name] = python_module
        if loaded is not None:
            registry._loaded[name] = loaded


@pytest.fixture
def facts() -> SimpleNamespace:
    return SimpleNamespace(
        hostname="web1", fqdn="web1.example.com", os=SimpleNamespace(family="debian"), cpus=2
    )


@pytest.fixture
def compile_text(tmp_path: Path, facts: SimpleNamespace) -> Compile:
    """Write `text` to site.p2 (plus any extra files) in tmp_path and compile it."""

    def run(text: str, files: dict[str, str] | None = None, **kwargs: object) -> Catalog:
        for name, content in (files or {}).items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        policy = tmp_path / "site.p2"
        policy.write_text(text)
        return compile_policy(policy, kwargs.pop("facts", facts), **kwargs)  # type: ignore[arg-type]

    return run
