"""Real package artefacts built once per session: tiny wheels, a virtualenv with pip,
an npm tarball, .deb files; each test gets its own copy of the mutable ones."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from partout.modules.base import RunContext


def make_wheel(directory: Path, name: str, version: str) -> Path:
    """A minimal valid pure-Python wheel (PEP 427), written by hand: building with
    setuptools costs a second per wheel and proves nothing more to pip."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: partout-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, content in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(content.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(content.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, content in files.items():
            archive.writestr(path, content)
    return wheel


@pytest.fixture(scope="session")
def wheel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("wheels")
    for name, version in [("tinya", "1.0"), ("tinya", "2.0"), ("tinyb", "1.0"), ("tinyc", "1.0")]:
        make_wheel(directory, name, version)
    return directory


@pytest.fixture(scope="session")
def venv_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True)
    return directory


@pytest.fixture
def venv(venv_template: Path, tmp_path: Path) -> Path:
    """A virtualenv of this test's own: a copy of the session's (venv creation takes seconds)."""
    directory = tmp_path / "venv"
    shutil.copytree(venv_template, directory, symlinks=True)
    return directory


@pytest.fixture
def context(tmp_path: Path) -> RunContext:
    facts = SimpleNamespace(os=SimpleNamespace(family="debian"))
    return RunContext(facts=facts, state_dir=tmp_path / "state")


@pytest.fixture(scope="session")
def npm_tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("npm-source") / "tinynpm"
    source.mkdir()
    (source / "package.json").write_text(json.dumps({"name": "tinynpm", "version": "1.0.0", "main": "index.js"}))
    (source / "index.js").write_text("module.exports = 1;\n")
    output = subprocess.run(["npm", "pack", "--silent", "--pack-destination", str(source.parent)], cwd=source,
                            check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return source.parent / output


def build_deb(directory: Path, name: str, version: str, depends: str | None = None, conffile: bool = False) -> Path:
    tree = directory / f"{name}-{version}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "usr" / "share" / name).mkdir(parents=True)
    (tree / "usr" / "share" / name / "README").write_text(f"{name} {version}\n")
    if conffile:  # what `dpkg --remove` keeps and `dpkg --purge` removes
        (tree / "etc").mkdir()
        (tree / "etc" / f"{name}.conf").write_text("setting = 1\n")
        (tree / "DEBIAN" / "conffiles").write_text(f"/etc/{name}.conf\n")
    control = f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: Tests <t@example.org>\n"
    if depends:
        control += f"Depends: {depends}\n"
    (tree / "DEBIAN" / "control").write_text(control + f"Description: {name} for tests\n")
    deb = directory / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(deb)], check=True, capture_output=True)
    return deb


@pytest.fixture(scope="session")
def debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("debs")
    return {
        "tinydeb-1": build_deb(directory, "tinydeb", "1.0-1"),
        "tinydeb-2": build_deb(directory, "tinydeb", "2.0-1"),
        "otherdeb": build_deb(directory, "otherdeb", "0.5"),
        "confdeb": build_deb(directory, "confdeb", "1.0", conffile=True),
        "seconddeb": build_deb(directory, "seconddeb", "1.0"),
        "brokendeb": build_deb(directory, "brokendeb", "1.0", depends="no-such-dependency"),
    }


@pytest.fixture
def dpkg_root(tmp_path: Path) -> Iterator[Path]:
    """An empty dpkg database under a temp root, as `dpkg --root` expects it."""
    root = tmp_path / "root"
    admindir = root / "var" / "lib" / "dpkg"
    for sub in ("info", "updates"):
        (admindir / sub).mkdir(parents=True)
    (admindir / "status").write_text("")
    (admindir / "available").write_text("")
    yield root
