"""junit.xml test cases for the client-resilience verdicts: one per (phase, verdict) judged.

A verdict that does not hold is a ``<failure type="ResilienceVerdict">`` with its evidence, so
CI shows *why* a client is fragile next to the SLO gates; verdicts not judged (too little
evidence) are left out rather than shown as passing.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from harness.analysis.models import Summary

__all__ = ["add_resilience_suite", "resilience_testcases"]


def add_resilience_suite(root: ET.Element, summary: Summary, suite_name: str) -> None:
    """A testsuite ``<suite>.resilience`` of its own, counted in the root's totals."""
    cases, failures = resilience_testcases(summary, suite_name)
    if not cases:
        return
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": f"{suite_name}.resilience",
            "tests": str(len(cases)),
            "failures": str(failures),
            "errors": "0",
            "skipped": "0",
            "time": "0",
        },
    )
    suite.extend(cases)
    for key, add in (("tests", len(cases)), ("failures", failures)):
        root.set(key, str(int(root.get(key, "0")) + add))


def resilience_testcases(summary: Summary, suite_name: str) -> tuple[list[ET.Element], int]:
    cases: list[ET.Element] = []
    failures = 0
    for phase, verdicts in summary.resilience.items():
        for verdict in verdicts:
            if verdict.status == "not_judged":
                continue
            case = ET.Element(
                "testcase",
                {
                    "classname": f"{suite_name}.{phase}.resilience",
                    "name": verdict.title,
                    "time": "0",
                },
            )
            detail = (
                f"verdict: {verdict.name}\nmetric: {verdict.metric}\nvalue: {verdict.value}\n"
                f"evidence: {json.dumps(verdict.evidence, sort_keys=True)}\n"
                f"examples: {', '.join(verdict.examples)}\n"
            )
            if verdict.status == "fail":
                failures += 1
                ET.SubElement(
                    case, "failure", {"message": verdict.summary, "type": "ResilienceVerdict"}
                ).text = detail
            else:
                ET.SubElement(case, "system-out").text = verdict.summary + "\n" + detail
            cases.append(case)
    return cases, failures
