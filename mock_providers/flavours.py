"""The API flavours this mock serves, by name: the one place that knows every flavour package.

The app looks its flavour up here, so the core never imports a flavour package and flavour
packages never import one another (tests/mock_providers/test_mock_providers_layout.py).
"""

from __future__ import annotations

from mock_providers.anthropic.routes import FLAVOUR as ANTHROPIC
from mock_providers.core.flavour import FlavourSpec
from mock_providers.gemini.routes import FLAVOUR as GEMINI
from mock_providers.openai.azure import FLAVOUR as AZURE
from mock_providers.openai.routes import FLAVOUR as OPENAI

SPECS: dict[str, FlavourSpec] = {spec.name: spec for spec in (OPENAI, ANTHROPIC, AZURE, GEMINI)}


def flavour_spec(name: str) -> FlavourSpec:
    """The spec of flavour `name` (a `KeyError` names the known ones)."""
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"unknown flavour {name!r}; known: {', '.join(SPECS)}") from None
