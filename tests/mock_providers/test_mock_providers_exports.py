"""The public surface of mock_providers is its sorted `__all__`; nothing more, nothing less."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import mock_providers

# The package's own modules and subpackages (core/, openai/, ...), found on disk.
SUBMODULES = {info.name for info in pkgutil.iter_modules(mock_providers.__path__)}


def test_all_is_complete_and_importable() -> None:
    names = mock_providers.__all__
    assert len(set(names)) == len(names)
    # pytest rewrites the asserts of the package (brownout's pytest11 plugin ships in it),
    # which adds `@py_builtins`/`@pytest_ar`: not names anyone can import.
    public = {n for n in vars(mock_providers) if not n.startswith(("_", "@"))}
    # Submodules are importable on their own; everything else public must be in __all__.
    assert public - set(names) == {m for m in public if m in SUBMODULES}
    for name in names:
        assert getattr(mock_providers, name) is not None


def test_help_is_usage_not_a_traceback() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mock_providers", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0
    assert "usage: python -m mock_providers" in out.stdout and "--journal" in out.stdout
