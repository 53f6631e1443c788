"""junit.xml: one test case per (scenario, phase, SLO), so CI shows each gate by name.

A failed SLO is a ``<failure>`` whose message is the SLO's reason in words. One more test case,
``run is valid``, fails when the run's data cannot be trusted, so an invalid run never shows as
all-green in CI even when its SLOs happened to hold; with a baseline run, ``no regression
against <run>`` fails when a metric got worse than in that run.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Final

from harness.analysis.models import Summary
from harness.report.compare import Comparison
from harness.report.junit_resilience import add_resilience_suite

__all__ = ["JUNIT_FILE", "render_junit"]

JUNIT_FILE: Final = "junit.xml"


def render_junit(summary: Summary, run_dir: Path, comparison: Comparison | None = None) -> Path:
    suite_name = f"brownout.{summary.scenario}"
    cases: list[ET.Element] = []
    failures = 0
    for slo in summary.slos:
        case = ET.Element(
            "testcase",
            {"classname": f"{suite_name}.{slo.phase}", "name": slo.name, "time": "0"},
        )
        if not slo.passed:
            failures += 1
            failure = ET.SubElement(case, "failure", {"message": slo.reason, "type": "SLOFailed"})
            failure.text = (
                f"SLO: {slo.name}\nmetric: {slo.metric}\nphase: {slo.phase}\n"
                f"min: {slo.min}\nmax: {slo.max}\nvalue: {slo.value}\nreason: {slo.reason}\n"
            )
        cases.append(case)
    validity = ET.Element(
        "testcase", {"classname": f"{suite_name}.run", "name": "run is valid", "time": "0"}
    )
    if not summary.valid:
        failures += 1
        message = "; ".join(summary.validity_problems)
        ET.SubElement(
            validity, "failure", {"message": message, "type": "InvalidRun"}
        ).text = message
    cases.append(validity)
    if comparison is not None:
        case = ET.Element(
            "testcase",
            {
                "classname": f"{suite_name}.run",
                "name": f"no regression against {comparison.baseline_run_id}",
                "time": "0",
            },
        )
        if comparison.regressions:
            failures += 1
            lines = [
                f"{d.metric} in {d.phase}: {d.baseline} -> {d.current}"
                for d in comparison.regressions
            ]
            ET.SubElement(
                case,
                "failure",
                {"message": f"{len(lines)} metric(s) regressed", "type": "Regression"},
            ).text = "\n".join(lines)
        cases.append(case)

    duration = summary.phases["run"].duration_s if "run" in summary.phases else None
    attrs = {
        "name": suite_name,
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": "0",
        "skipped": "0",
        "time": f"{duration or 0:.3f}",
    }
    root = ET.Element("testsuites", {k: attrs[k] for k in ("tests", "failures", "errors")})
    root.set("name", "brownout")
    suite = ET.SubElement(root, "testsuite", attrs)
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("run_id", summary.run_id),
        ("scenario", summary.scenario),
        ("valid", str(summary.valid).lower()),
        ("complete", str(summary.complete).lower()),
        ("passed", str(summary.passed).lower()),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    suite.extend(cases)
    add_resilience_suite(root, summary, suite_name)
    _make_xml_safe(root)
    ET.indent(root)
    path = run_dir / JUNIT_FILE
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


#: Characters XML 1.0 cannot carry at all, escaped or not (C0 controls but tab, CR, LF; lone
#: surrogates; U+FFFE/U+FFFF). ElementTree escapes ``<&"`` but writes these as they are, which
#: makes the file unparseable for every CI system.
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def _make_xml_safe(root: ET.Element) -> None:
    for element in root.iter():
        if element.text:
            element.text = _xml_text(element.text)
        for key, value in element.attrib.items():
            element.attrib[key] = _xml_text(value)
