"""``load.locustfile``: the user's own Locust file, checked offline without running it.

brownout never executes user code at validate time (a locustfile may start anything at import),
so the file is read and parsed with ``ast`` only: it must exist, be a regular UTF-8 file that
parses as Python, and define at least one class that derives, directly or through classes of
the same file, from ``User``, ``HttpUser`` or ``FastHttpUser`` and is not ``abstract = True``.
"""

from __future__ import annotations

import ast
import stat
from pathlib import Path
from typing import Final

__all__ = ["locustfile_problems"]

_USER_BASES: Final = frozenset({"User", "HttpUser", "FastHttpUser"})
_MAX_BYTES: Final = 1024 * 1024


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _abstract(node: ast.ClassDef) -> bool:
    for statement in node.body:
        if isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            value = statement.value
            for target in targets:
                if isinstance(target, ast.Name) and target.id == "abstract":
                    return isinstance(value, ast.Constant) and value.value is True
    return False


def locustfile_problems(written: str, base_dir: Path) -> list[str]:
    """What is wrong with the locustfile ``written`` (relative to the scenario's directory)."""
    path = base_dir / written
    try:
        info = path.stat()
    except OSError:
        return [f"locustfile {written}: no such file (paths are relative to the scenario)"]
    if not stat.S_ISREG(info.st_mode):
        return [f"locustfile {written}: not a regular file"]
    if path.suffix != ".py":
        return [f"locustfile {written}: expected a Python file (.py)"]
    if info.st_size > _MAX_BYTES:
        return [f"locustfile {written}: larger than 1 MiB"]
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        return [f"locustfile {written}:{exc.lineno}:{exc.offset}: not valid Python: {exc.msg}"]
    except (OSError, ValueError) as exc:
        return [f"locustfile {written}: cannot be read as Python: {exc}"]
    classes = [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    users = set(_USER_BASES)
    changed = True
    while changed:  # classes of the file that derive from a user class, to a fixed point
        changed = False
        for node in classes:
            if node.name not in users and any(_base_name(b) in users for b in node.bases):
                users.add(node.name)
                changed = True
    concrete = [n.name for n in classes if n.name in users - _USER_BASES and not _abstract(n)]
    if not concrete:
        return [
            f"locustfile {written}: defines no Locust User class (a class deriving from "
            "HttpUser or FastHttpUser, not abstract)"
        ]
    return []
