"""load_yaml: PyYAML's safe loading, built faster, the same values (and no aliases)."""

from __future__ import annotations

import random
from datetime import date

import pytest
import yaml

from pipelines.core.limits import YamlAliasError, load_yaml

SCALARS = ["08:00", "18:00", "1:30", "yes", "No", "on", "~", "null", "", "0x1F", "0o17", "017", "1_000",
           "1e3", ".inf", "-.NaN", "3.5", "2026-12-24", "2026-03-01 09:00:00+01:00", "P1", "24x7", "Sev 1",
           "'quoted'", '"dq"', "a: b", "- x", "#x", "é", "true", "12", "-7", "+1"]
TRICKY = [
    "base: {a: 1}\nmerged:\n  <<: {a: 2, b: 3}\n  c: 4\n",
    "? 12\n: explicit key\n",
    "set: !!set {a, b}\nomap: !!omap [{a: 1}, {b: 2}]\npairs: !!pairs [{a: 1}]\n",
    "bin: !!binary aGVsbG8=\nstr: !!str 12\nint: !!int '12'\nfloat: !!float '1'\n",
    "a: 1\na: 2\n",  # a repeated key: the last wins, as in PyYAML
    "= : value-key\n",
    "",
    "# only a comment\n",
    "- [1, [2, [3, {x: [4]}]]]\n",
    "1: one\n2.5: two\nnull: three\ntrue: four\n2026-01-02: five\n",
]


def _random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.random()
    if depth > 3 or kind < 0.5:
        return rng.choice([*SCALARS, 3, -2.25, None, True, date(2026, 5, 1)])
    if kind < 0.75:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(SCALARS): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _reference(text: str) -> object:
    return yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 - PyYAML's pure-Python safe loader


@pytest.mark.parametrize("seed", range(40))
def test_generated_documents_load_as_pyyaml_loads_them(seed):
    rng = random.Random(seed)
    data = _random_value(rng)
    for style in (None, False, True):
        text = yaml.safe_dump(data, default_flow_style=style, allow_unicode=True)
        # the raw scalars as plain text too (so `yes`, `1:30`, `0x1F` resolve as YAML 1.1 says)
        raw = "\n".join(f"k{i}: {s}" for i, s in enumerate(rng.sample(SCALARS, 8)) if ":" not in s[:1])
        for doc in (text, raw):
            try:
                expected = _reference(doc)
            except yaml.YAMLError:
                with pytest.raises(yaml.YAMLError):
                    load_yaml(doc)
                continue
            assert load_yaml(doc) == expected, doc


@pytest.mark.parametrize("text", TRICKY)
def test_tags_merges_and_complex_keys_load_as_pyyaml_loads_them(text):
    got = load_yaml(text)
    assert got == _reference(text)
    assert type(got) is type(_reference(text))


def test_errors_are_pyyaml_errors_and_aliases_are_refused():
    with pytest.raises(yaml.YAMLError, match="expected a single document"):
        load_yaml("a: 1\n---\nb: 2\n")
    with pytest.raises(yaml.YAMLError, match="could not determine a constructor"):
        load_yaml("a: !!python/object:os.system x\n")
    with pytest.raises(yaml.YAMLError, match="found unhashable key"):
        load_yaml("? [a, b]\n: pair\n")
    with pytest.raises(YamlAliasError, match="an alias"):
        load_yaml("a: &x 1\nb: *x\n")
