"""The project's import graph, read from the source (no module is imported)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kms_core", "paramstore")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, top_level_only: bool, type_checking: bool = False) -> set[str]:
    """Modules `module` imports at run time (TYPE_CHECKING blocks left out, unless
    `type_checking`); with `top_level_only`, only what runs when the module is loaded (not
    inside functions)."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    known = source_files() if not hasattr(imports_of, "_known") else imports_of._known  # type: ignore[attr-defined]  # a memo kept on the function
    imports_of._known = known  # type: ignore[attr-defined]  # a memo kept on the function

    def visit(nodes: list, in_function: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node) and not type_checking:
                visit(node.orelse, in_function)
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                if not top_level_only:
                    visit(list(ast.iter_child_nodes(node)), True)
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(module, node, is_package)
                found.add(target)
                for alias in node.names:  # `from pkg import submodule`
                    if f"{target}.{alias.name}" in known:
                        found.add(f"{target}.{alias.name}")
            visit(list(ast.iter_child_nodes(node)), in_function)

    visit(tree.body, False)
    return found


def graph(top_level_only: bool = False, type_checking: bool = False) -> dict[str, set[str]]:
    """`type_checking`: also what TYPE_CHECKING blocks import (annotations name them too)."""
    files = source_files()
    return {name: imports_of(name, path, top_level_only, type_checking) for name, path in files.items()}


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)
