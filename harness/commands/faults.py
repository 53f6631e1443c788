"""``brownout faults [TYPE]``: the fault catalogue at the terminal, without opening the docs.

Network faults are Toxiproxy's toxics (their attributes are known here). Provider faults are
implemented by the mock providers, a separate program the harness does not import; their
parameters come from the generated copy of their catalogue, ``harness.scenario.provider_faults``.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

import click

from harness.commands.common import fail
from harness.errors import UsageError

__all__ = ["faults"]

#: What each toxic attribute means, in Toxiproxy's units.
TOXIC_ATTRIBUTES: dict[str, dict[str, str]] = {
    "latency": {"latency": "added delay, ms", "jitter": "± random extra delay, ms"},
    "bandwidth": {"rate": "maximum rate, KB/s"},
    "slow_close": {"delay": "delay before the connection closes, ms"},
    "timeout": {"timeout": "close after this many ms without data (0: never, black hole)"},
    "reset_peer": {"timeout": "reset the connection (TCP RST) after this many ms"},
    "slicer": {
        "average_size": "average chunk size, bytes",
        "size_variation": "± chunk size variation, bytes",
        "delay": "delay between chunks, µs",
    },
    "limit_data": {"bytes": "close the connection after this many bytes"},
    "noop": {},
    "down": {},
}

TOXIC_SUMMARY: dict[str, str] = {
    "latency": "delays data on the connection",
    "bandwidth": "limits throughput",
    "slow_close": "delays the close of the connection",
    "timeout": "stops all data (a black hole), then optionally closes",
    "reset_peer": "resets connections (ECONNRESET)",
    "slicer": "splits data into small delayed chunks",
    "limit_data": "closes the connection after N bytes",
    "noop": "does nothing (a control)",
    "down": "disables the proxy: new connections are refused",
}


@click.command()
@click.argument("fault_type", required=False, metavar="[TYPE]")
def faults(fault_type: str | None) -> None:
    """List the fault types a scenario can use, or the parameters of one TYPE.

    Provider faults (target: provider/NAME) take `params`; network faults (target: proxy/NAME)
    take Toxiproxy `attributes`.
    """
    from harness.scenario import NETWORK_FAULT_TYPES, PROVIDER_FAULT_TYPES

    if fault_type is None:
        click.echo("Provider faults (target: provider/NAME; parameters under `params`):")
        for name in PROVIDER_FAULT_TYPES:
            click.echo(f"  {name}")
        click.echo("")
        click.echo("Network faults (target: proxy/NAME; Toxiproxy `attributes`, integers):")
        for name in NETWORK_FAULT_TYPES:
            attributes = ", ".join(NETWORK_FAULT_TYPES[name]) or "no attributes"
            click.echo(f"  {name:<11} {TOXIC_SUMMARY.get(name, '')} ({attributes})")
        click.echo("")
        click.echo("brownout faults TYPE: one type and its parameters (see docs/faults.md).")
        return
    known = [*PROVIDER_FAULT_TYPES, *NETWORK_FAULT_TYPES]
    if fault_type not in known:
        close = difflib.get_close_matches(fault_type, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
        fail(UsageError(f"unknown fault type {fault_type!r}{hint}"))
    if fault_type in PROVIDER_FAULT_TYPES:
        from harness.scenario.provider_faults import provider_fault_params_schema

        click.echo(f"{fault_type}: provider fault (target: provider/NAME)")
        click.echo("  keys: probability (0..1, default 1), params: {...}")
        click.echo("  schedule keys: first, every, burst, ramp, header_only (docs/faults.md)")
        properties = provider_fault_params_schema(fault_type).get("properties", {})
        for param, spec in properties.items():
            click.echo(f"  params.{param:<18} {_describe(spec)}")
    if fault_type in NETWORK_FAULT_TYPES:
        click.echo(f"{fault_type}: network fault (target: proxy/NAME): {TOXIC_SUMMARY[fault_type]}")
        click.echo("  keys: attributes: {...}, stream (downstream|upstream), toxicity (0..1)")
        for attribute in NETWORK_FAULT_TYPES[fault_type]:
            meaning = TOXIC_ATTRIBUTES.get(fault_type, {}).get(attribute, "")
            click.echo(f"  attributes.{attribute:<15} {meaning}")


def _describe(spec: dict[str, Any]) -> str:
    """``integer, one of 500, 503; default 500: HTTP status`` from a parameter's JSON Schema."""
    kind = spec.get("type", "any")
    parts = ["|".join(kind) if isinstance(kind, list) else str(kind)]
    if "enum" in spec:
        parts.append("one of " + ", ".join(json.dumps(v) for v in spec["enum"]))
    text = ", ".join(parts)
    if "default" in spec:
        text += f"; default {json.dumps(spec['default'])}"
    description = spec.get("description")
    return f"{text}: {description}" if description else text
