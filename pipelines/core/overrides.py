"""What-if contract terms: `path=value` overrides applied to a contract, validated like the file.

`sla.P2.resolution=6h`, `business_hours.fri=08:00-18:00`, `business_hours.sat=closed`,
`targets.resolution_sla_pct=95`, `credits.0.below=95` or any YAML value
(`proactive_sources=[monitoring]`). The contract is written back in its documented shape,
each override is set in it, and the result is parsed by the same model as a contract file, so
a bad value is refused with the field it is in and what was expected.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

import yaml

from pipelines.core.limits import load_yaml, read_yaml_file

_WINDOW = r"\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}"
WINDOWS = re.compile(rf"{_WINDOW}(?:\s*,\s*{_WINDOW})*")
CLOSED = {"closed", "none", "null", "~", ""}
FIXED = {"client_id"}  # a what-if is about the same client


class OverrideError(ValueError):
    """An override that cannot be applied (the message names it and what was expected)."""


class Contract(Protocol):
    """What overrides need of a `pipelines.core.contracts.Contract` (which checks its scenarios
    with this module, so this module does not import it)."""

    term: object

    def documented(self) -> dict: ...

    def parse(self, data: object, source: str) -> Contract: ...


def parse_assignment(text: str) -> tuple[list[str], object]:
    """'sla.P2.resolution=6h' -> (['sla', 'P2', 'resolution'], '6h'); the value is read as YAML,
    except working hours ('08:00-18:00', '08:00-12:00,13:00-17:00') and 'closed' (removes the key)."""
    path, sep, raw = str(text).partition("=")
    keys = [k.strip() for k in path.strip().split(".")]
    if not sep or not all(keys):
        raise OverrideError(f"{text!r} is not an override like sla.P2.resolution=6h (a field path, '=', a value)")
    if keys[0] in FIXED:
        raise OverrideError(f"{text!r}: {keys[0]} cannot be changed in a what-if")
    raw = raw.strip()
    if raw.lower() in CLOSED:
        return keys, None
    if WINDOWS.fullmatch(raw):
        windows = [[part.strip() for part in w.split("-")] for w in raw.split(",")]
        return keys, windows[0] if len(windows) == 1 else windows
    try:
        return keys, load_yaml(raw)
    except yaml.YAMLError:
        raise OverrideError(f"{text!r}: {raw!r} is not a value (write it as in a contract file)") from None


def _set(data: dict, keys: list[str], value: object, text: str) -> None:
    node: object = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        where = ".".join(keys[:depth]) or "the contract"
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise OverrideError(f"{text!r}: {where} is a list of {len(node)}; give a position like "
                                    f"{where}.0")
            key = int(key)
        elif not isinstance(node, dict):
            raise OverrideError(f"{text!r}: {where} is a single value, it has no field {key!r}")
        if last:
            if value is None and isinstance(node, dict):
                node.pop(key, None)
            else:
                node[key] = value
            return
        if isinstance(node, dict) and node.get(key) is None:
            node[key] = {}
        node = node[key]


def apply_overrides(contract: Contract, overrides: list[str], source: str = "what-if") -> Contract:
    """The contract with every override applied, validated as a contract file is (OverrideError
    names the override's field and what was expected). The alternative carries no scenarios."""
    data = contract.documented()
    if data.get("term"):
        data["term"].pop("scenarios", None)
    for text in overrides:
        keys, value = parse_assignment(text)
        _set(data, keys, value, text)
    try:
        return contract.parse(data, source)
    except ValueError as exc:  # a ContractError: the field and what was expected
        raise OverrideError(str(exc)) from None


def check_scenarios(contract: Contract) -> Contract:
    """The contract, or ValueError (for the contract model) naming the first of its term's scenarios
    that does not apply."""
    for name, sets in (contract.term.scenarios if contract.term else {}).items():
        source = f"term.scenarios: {name!r}"
        try:
            apply_overrides(contract, sets, source)
        except OverrideError as exc:
            text = str(exc)
            raise ValueError(text if text.startswith(source) else f"{source}: {text}") from None
    return contract


def read_scenarios(path: str | Path) -> dict[str, list[str]]:
    """A YAML file with a `scenarios:` block (name -> list of overrides), as a review's parameters
    take it; errors name the file and the scenario."""
    path = Path(path)
    data = read_yaml_file(path, str(path), OverrideError)
    block = data.get("scenarios") if isinstance(data, dict) else None
    if not isinstance(block, dict) or not block:
        raise OverrideError(f"{path}: expected a 'scenarios:' block of name: [override, ...] "
                            "(e.g. '6-hour P2: [sla.P2.resolution=6h]')")
    out = {}
    for name, sets in block.items():
        sets = [sets] if isinstance(sets, str) else sets
        if not isinstance(sets, list) or not sets or not all(isinstance(s, str) for s in sets):
            raise OverrideError(f"{path}: scenarios.{name}: expected a list of overrides like sla.P2.resolution=6h")
        out[str(name)] = sets
    return out
