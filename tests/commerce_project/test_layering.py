"""The HTTP edge sits on top: no domain, command, service, selector, model, projection,
exception or event-store module imports `commerce_project.api` (errors live in
`commerce_project.errors`, the request id in `commerce_project.context`). Only an app's
`api/` package and its `admin.py` are edges."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = (
    "eventstore",
    "orders",
    "inventory",
    "carts",
    "payments",
    "sagas",
    "accounts",
    "integrations",
)
EDGE = "commerce_project.api"


def _below_the_edge(app: str) -> list[Path]:
    return sorted(
        path
        for path in (ROOT / app).rglob("*.py")
        if "api" not in path.relative_to(ROOT / app).parts[:-1] and path.name != "admin.py"
    )


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _is_edge(module: str) -> bool:
    return module == EDGE or module.startswith(EDGE + ".")


@pytest.mark.parametrize("app", APPS)
def test_no_module_below_the_api_imports_it(app: str) -> None:
    # given every module of the app that is not its API or its admin
    modules = _below_the_edge(app)
    assert modules, f"no modules found under {app}/"
    # when their imports are read
    offending = {
        str(path.relative_to(ROOT)): sorted(m for m in _imported_modules(path) if _is_edge(m))
        for path in modules
    }
    # then none of them reaches into commerce_project.api
    assert {path: names for path, names in offending.items() if names} == {}


def test_the_guard_sees_an_import_of_the_api(tmp_path: Path) -> None:
    # given a module that imports the edge in both spellings
    module = tmp_path / "services.py"
    module.write_text(
        "from commerce_project.api.errors import InvalidInput\n"
        "from commerce_project import api\n"
        "import commerce_project.api.request_id\n"
    )
    # when / then
    found = {m for m in _imported_modules(module) if _is_edge(m)}
    assert found == {
        "commerce_project.api.errors",
        "commerce_project.api.errors.InvalidInput",
        "commerce_project.api",
        "commerce_project.api.request_id",
    }
