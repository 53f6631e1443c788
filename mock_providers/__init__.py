"""OpenAI- and Anthropic-compatible mock LLM providers with faults, control API and journal.

Usable on its own (it never imports `harness`): run `python -m mock_providers openai --port 0`,
or embed one with `MockServer(MockConfig("openai")).start()`.
"""

from mock_providers.app import MockApp, MockConfig
from mock_providers.cli import main
from mock_providers.core.faults import CATALOGUE, FaultSpecError
from mock_providers.core.models import ModelSpec
from mock_providers.server import READY_PREFIX, MockServer, serve

__all__ = [
    "CATALOGUE",
    "READY_PREFIX",
    "FaultSpecError",
    "MockApp",
    "MockConfig",
    "MockServer",
    "ModelSpec",
    "main",
    "serve",
]
