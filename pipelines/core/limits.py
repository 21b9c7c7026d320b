"""Bounds on what a user's file or an export can make the pipeline do.

Contracts, presets and client maps are YAML written by people, exports come from anywhere:
YAML is read without aliases and only up to a sane size (no "billion laughs"), every value
echoed in a message is cut to about 200 characters, and a time zone must be a name both
zoneinfo and Polars use.
"""

from __future__ import annotations

import reprlib
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import available_timezones

import yaml

MAX_YAML_BYTES = 1_000_000  # a contract or preset is a few kB; anything this large is not one
MAX_ERRORS = 20  # problems listed per file (the rest are counted)

_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 200
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxdict = _SHOWN.maxset = 8
_SHOWN.maxlevel, _SHOWN.maxlong = 3, 60


def shown(value: object) -> str:
    """A value as it is echoed in an error message: its repr, at most about 200 characters."""
    return _SHOWN.repr(value)


def clip(text: object, limit: int = 200) -> str:
    """Text echoed in a message, cut to about `limit` characters."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


class YamlAliasError(yaml.YAMLError):
    """A YAML alias (*name): refused, so no file expands itself ("billion laughs")."""


def load_yaml(text: str) -> object:
    """Safe YAML without aliases (`YamlAliasError`, a YAMLError) and of a sane size."""
    if len(text) > MAX_YAML_BYTES:
        raise yaml.YAMLError(f"{len(text):,} characters is too large (at most {MAX_YAML_BYTES:,})")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: 10x faster
    for event in yaml.parse(text, Loader=loader) if "*" in text else ():  # an alias is written *name
        if isinstance(event, yaml.AliasEvent):
            raise YamlAliasError(f"line {event.start_mark.line + 1}: an alias (*{clip(event.anchor, 60)}) "
                                 "repeats another part of the file; aliases are not allowed, write the "
                                 "value out")
    return _construct(text, loader)


_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_SPECIAL_KEYS = {"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"}  # << and =: PyYAML's own rules


def _construct(text: str, loader: type) -> object:
    """`yaml.load(text, Loader=loader)` (a safe loader): the same values, with plain strings,
    lists and mappings built here and every other node by the loader's own constructor (its
    Python construction is most of the time a contract takes to load)."""
    state = loader(text)
    try:
        node = state.get_single_node()
        return None if node is None else _value(node, state)
    finally:
        state.dispose()


def _value(node: yaml.Node, state: yaml.BaseLoader) -> object:
    if isinstance(node, yaml.ScalarNode):
        return node.value if node.tag == _STR else state.construct_object(node, deep=True)
    if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
        return [_value(item, state) for item in node.value]
    if isinstance(node, yaml.MappingNode) and node.tag == _MAP and all(
            isinstance(key, yaml.ScalarNode) and key.tag not in _SPECIAL_KEYS for key, _ in node.value):
        return {_value(key, state): _value(value, state) for key, value in node.value}
    return state.construct_object(node, deep=True)  # tagged, merged or with complex keys


def read_yaml_file(path, source: str, error: type[ValueError]) -> object:
    """A YAML file read with `load_yaml`; `error` names `source` when it is missing, not UTF-8 or
    not YAML."""
    try:
        return load_yaml(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{source}: file not found") from None
    except OSError as exc:
        raise error(f"{source}: cannot be read ({exc.strerror}); expected a YAML file") from None
    except UnicodeDecodeError as exc:
        raise error(f"{source}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML ({exc})".replace("\n", " ")) from None


@cache
def _iana_zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


@cache
def usable_zone(name: str) -> bool:
    """True for an IANA zone name Polars can use too: right/UTC (leap seconds), posix/… and
    localtime load in zoneinfo, but Polars refuses them later."""
    if name not in _iana_zones():
        return False
    import polars as pl

    try:
        pl.Series([datetime(2026, 1, 1)]).dt.replace_time_zone(name)
    except pl.exceptions.PolarsError:
        return False
    return True
