"""Reading a module's imports from its source, for the layout tests."""

from __future__ import annotations

import ast
from pathlib import Path


def imported_names(path: Path, root: Path) -> set[str]:
    """Absolute names of the modules ``path`` (a file under ``root``) imports anywhere, inside
    functions too, relative imports resolved.

    ``from X import name`` also yields ``X.name``, since ``name`` may be a module.
    """
    package = list(path.relative_to(root).with_suffix("").parts)[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}".lstrip(".") for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names
