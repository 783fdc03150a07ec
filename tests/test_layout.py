"""The repository's layout: experiments that did not ship live in lab/, which is not installed;
the installed package folders hold no experiment module, no experimental weights, and nothing
in them imports lab. The write-ups in docs/experiments/ and lab/README.md link to files that
exist."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

#: Modules of experiments that did not ship, moved to lab/ or deleted: none may come back into
#: an installed folder (by file name, anywhere in it).
EXPERIMENT_MODULES = ("oracle_bands.py", "fit_low_band.py")
#: Installed files that were experiments or benchmarks, by path (export/options.py is
#: benchmarks/export_options.py now).
MOVED_FILES = ("export/options.py",)
#: The one folder of models/ that may hold weights and graphs: the shipped model.
SHIPPED_MODELS = PROJECT_ROOT / "models" / "pretrained"
WEIGHT_SUFFIXES = (".onnx", ".pt")


def _setuptools() -> dict:
    with (PROJECT_ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["tool"]["setuptools"]


def installed_folders() -> list[Path]:
    """The folders pyproject installs as (sub)packages of ``unsing``."""
    package_dir = _setuptools().get("package-dir", {})
    folders = {PROJECT_ROOT / package_dir.get(name, name.replace(".", "/")) for name in packages()}
    return sorted(folders)


def packages() -> list[str]:
    packages = _setuptools().get("packages")
    assert isinstance(packages, list), "pyproject names its packages explicitly"
    return packages


def files_under(folder: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    for path in folder.rglob("*"):
        if path.suffix in suffixes and "__pycache__" not in path.parts and path.is_file():
            yield path


def test_the_installed_folders_are_the_product_layout() -> None:
    names = {path.relative_to(PROJECT_ROOT).as_posix() for path in installed_folders()}
    assert {"unsing", "realtime", "export", "models", "benchmarks"} <= names


def test_lab_is_not_installed() -> None:
    assert (PROJECT_ROOT / "lab" / "README.md").is_file()
    assert not [name for name in packages() if name == "lab" or name.startswith("lab.")]
    for folder in installed_folders():
        assert not folder.resolve().is_relative_to((PROJECT_ROOT / "lab").resolve()), folder


def test_no_experiment_module_is_installed() -> None:
    found = [
        path.relative_to(PROJECT_ROOT).as_posix()
        for folder in installed_folders()
        for path in files_under(folder, (".py",))
        if path.name in EXPERIMENT_MODULES
        or path.relative_to(PROJECT_ROOT).as_posix() in MOVED_FILES
        # probe scripts belong in lab/probes/, results folders hold data only
        or "results" in path.relative_to(folder).parts
    ]
    assert not found, f"experiment code in the installed package (move it to lab/): {found}"


def test_models_holds_no_weights_but_the_shipped_model() -> None:
    found = [
        path.relative_to(PROJECT_ROOT).as_posix()
        for path in files_under(PROJECT_ROOT / "models", WEIGHT_SUFFIXES)
        if not path.is_relative_to(SHIPPED_MODELS)
    ]
    assert not found, f"weights outside models/pretrained/ (experimental ones go to lab/): {found}"
    assert list(files_under(SHIPPED_MODELS, WEIGHT_SUFFIXES))


def imported_modules(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_nothing_installed_imports_lab() -> None:
    found = [
        f"{path.relative_to(PROJECT_ROOT)}: {module}"
        for folder in installed_folders()
        for path in files_under(folder, (".py",))
        for module in imported_modules(path)
        if module == "lab" or module.startswith("lab.")
    ]
    assert not found, f"the installed package imports lab (not installed): {found}"


def test_the_layout_checks_catch_what_they_guard(tmp_path: Path) -> None:
    """The helpers see what the checks above look for."""
    module = tmp_path / "probe.py"
    module.write_text("import lab.oracle_bands\nfrom lab import probes\nfrom . import x\n")
    assert list(imported_modules(module)) == ["lab.oracle_bands", "lab"]
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "a.pt").write_bytes(b"")
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "b.onnx").write_bytes(b"")
    assert [p.name for p in files_under(tmp_path, WEIGHT_SUFFIXES)] == ["b.onnx"]


def test_experiment_write_ups_and_the_lab_readme_link_to_what_exists() -> None:
    from test_docs import link_problems

    index = PROJECT_ROOT / "docs" / "experiments" / "README.md"
    write_ups = sorted(set(index.parent.glob("*.md")) - {index})
    assert write_ups
    listed = index.read_text("utf-8")
    missing = [path.name for path in write_ups if f"]({path.name})" not in listed]
    assert not missing, f"write-ups not in docs/experiments/README.md: {missing}"
    documents = [*write_ups, index, PROJECT_ROOT / "lab" / "README.md"]
    problems = [problem for path in documents for problem in link_problems(path)]
    assert not problems, "\n".join(problems)
