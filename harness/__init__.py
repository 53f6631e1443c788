"""brownout's harness: scenario language, orchestrator, fault proxy, load driver, analysis and
reports. Importing it never imports Locust (which would monkey-patch the interpreter)."""

__version__ = "0.1.0"
