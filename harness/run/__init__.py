"""Running a scenario: child processes, the fault timeline, metric scraping, the orchestrator."""

from harness.run.orchestrator import RunOptions, RunResult, run_scenario

__all__ = ["RunOptions", "RunResult", "run_scenario"]
