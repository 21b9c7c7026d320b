"""Themes of survey comments: what a comment talks about, from a vocabulary the analyst extends.

A comment is split into words (a regular-expression tokenizer: contractions split, "e-mail"
and "wi-fi" joined) and each word reduced to a lemma by a small rule set (waited, waiting,
waits -> wait; took -> take; days -> day), so a pattern written once matches its inflections
and never a longer word ("account" is not "accountability", "monitor" is not "monitoring").
Themes and their phrase patterns live in `themes.yml` (see its header for the syntax);
`THEMES_FILE` can point elsewhere. Frequent phrases in negative comments that no theme
covers are listed too, so the vocabulary can grow.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl
import yaml

THEMES_FILE = Path(__file__).with_name("themes.yml")

_TOKEN = re.compile(r"[a-z]+(?=n't)|n't|[a-z]+(?:'[a-z]+)?|\d+")
_JOINED = {"e-mail": "email", "wi-fi": "wifi", "e mail": "email", "wi fi": "wifi"}
# Irregular forms and the few words the suffix rules would merge with another word.
IRREGULAR = {
    "took": "take", "taken": "take", "came": "come", "kept": "keep", "told": "tell", "left": "leave",
    "got": "get", "gotten": "get", "gave": "give", "given": "give", "went": "go", "gone": "go",
    "was": "be", "were": "be", "is": "be", "are": "be", "am": "be", "been": "be", "being": "be",
    "had": "have", "has": "have", "having": "have", "did": "do", "does": "do", "done": "do",
    "said": "say", "sent": "send", "lost": "lose", "broke": "break", "broken": "break",
    "knew": "know", "known": "know", "thought": "think", "brought": "bring", "rang": "ring",
    "rung": "ring", "ran": "run", "spoke": "speak", "spoken": "speak", "felt": "feel",
    "heard": "hear", "fell": "fall", "stuck": "stick", "hung": "hang", "paid": "pay", "sat": "sit",
    "meant": "mean", "built": "build", "used": "use", "using": "use", "ca": "can", "wo": "will",
    "n't": "not", "mins": "minute", "min": "minute", "hrs": "hour", "hr": "hour", "wks": "week",
    "monitoring": "monitoring", "morning": "morning", "evening": "evening", "nothing": "nothing",
    "something": "something", "anything": "anything", "everything": "everything",
    "thing": "thing", "things": "thing", "news": "news", "always": "always", "this": "this",
    "series": "series", "status": "status", "process": "process", "access": "access",
    "accounting": "accounting",
}
NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty "
    "fifty sixty couple few several".split()
)
_NUM = "{num}"


def lemma(word: str) -> str:
    """The lemma-like key of one lower-case word (the same rules apply to patterns, so a word
    and its inflections meet: closes, closed, closing -> clos; meetings, meeting -> meet)."""
    if word in IRREGULAR:
        return _final_e(IRREGULAR[word])
    word = word.split("'")[0]  # engineer's -> engineer
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif word.endswith(("sses", "shes", "ches", "xes", "zes")):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word in IRREGULAR:
        return _final_e(IRREGULAR[word])
    if len(word) > 4 and word.endswith("ied"):
        word = word[:-3] + "y"
    elif len(word) > 4 and word.endswith("ing") and _vowel(word[:-3]):
        word = _undouble(word[:-3])
    elif len(word) > 3 and word.endswith("ed") and _vowel(word[:-2]):
        word = _undouble(word[:-2])
    return _final_e(word)


def _final_e(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("e") else word  # close / closed -> clos


def _vowel(stem: str) -> bool:
    return len(stem) >= 3 and any(c in "aeiouy" for c in stem)


def _undouble(stem: str) -> str:
    """stopp -> stop, but call / miss / buzz / stuff keep their double letter."""
    if len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "lsfz":
        return stem[:-1]
    return stem


def tokens(text: str | None) -> list[str]:
    """The words of a comment, lower-cased, contractions split ("didn't" -> "did", "n't")."""
    if not text:
        return []
    text = text.lower().replace("\u2019", "'")
    for joined, word in _JOINED.items():
        text = text.replace(joined, word)
    return _TOKEN.findall(text)


def lemmas(text: str | None) -> list[str]:
    """`tokens` reduced to their lemmas; numbers (digits or words) become `{num}`."""
    return [_NUM if w.isdigit() or w in NUMBER_WORDS else lemma(w) for w in tokens(text)]


# ---------------------------------------------------------------- the vocabulary


class VocabularyError(ValueError):
    """A theme vocabulary file that cannot be used, with the file and the entry at fault."""


@dataclass(frozen=True)
class Theme:
    """A theme: its name, its compiled phrase patterns and the phrases that veto a match."""

    name: str
    match: re.Pattern
    unless: re.Pattern | None

    def spans(self, keyed: str) -> list[tuple[int, int]]:
        """Character spans in a lemma string (" a b c ") where the theme matches."""
        vetoes = _spans(self.unless, keyed) if self.unless else []
        return [(a, b) for a, b in _spans(self.match, keyed)
                if not any(x < b and a < y for x, y in vetoes)]


def _spans(pattern: re.Pattern, keyed: str) -> list[tuple[int, int]]:
    return [(m.start(), m.start() + len(m.group(1))) for m in pattern.finditer(keyed)]


@dataclass(frozen=True)
class Vocabulary:
    """Every theme in file order, and the words a phrase may not be made of alone."""

    themes: tuple[Theme, ...]
    ignore: frozenset[str]
    edge: frozenset[str]


def _compile(patterns: list, where: str) -> re.Pattern:
    """Phrase patterns -> one regular expression over a lemma string like " take {num} day "."""
    if not isinstance(patterns, list) or not all(isinstance(p, str) and p.strip() for p in patterns):
        raise VocabularyError(f"{where}: expected a list of phrases (text), got {patterns!r}")
    compiled = []
    for pattern in patterns:
        body = ""
        for term in pattern.lower().split():
            if term == "...":
                body += r"(?:\S+ ){0,3}"  # a gap of up to three words
                continue
            optional, term = term.endswith("?"), term.rstrip("?")
            if term == "*":
                part = r"\S+"
            else:
                options = [o if o == _NUM else " ".join(lemmas(o)) for o in term.split("|")]
                if not all(options):
                    raise VocabularyError(f"{where}: {pattern!r}: {term!r} has no word in it")
                part = "(?:" + "|".join(re.escape(o) for o in options) + ")"
            body += f"(?:{part} )?" if optional else f"{part} "
        compiled.append(body)
    # A look-ahead finds a match at every word, overlapping ones included (for coverage).
    return re.compile(r"(?<= )(?=(" + "|".join(compiled) + "))")


@lru_cache(maxsize=4)
def load_vocabulary(path: Path = THEMES_FILE) -> Vocabulary:
    """Read and compile a theme vocabulary file; a bad entry is an error naming it."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VocabularyError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise VocabularyError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("themes"), list) or not data["themes"]:
        raise VocabularyError(f"{path}: expected a 'themes:' list of {{name, match, unless}} entries")
    themes, names = [], set()
    for i, entry in enumerate(data["themes"]):
        where = f"{path}: themes[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or "match" not in entry:
            raise VocabularyError(f"{where}: each theme needs a 'name' and a 'match' list")
        unknown = set(entry) - {"name", "match", "unless"}
        if unknown:
            raise VocabularyError(f"{where} ({entry['name']}): unknown field {', '.join(sorted(unknown))}")
        if entry["name"] in names:
            raise VocabularyError(f"{where}: theme {entry['name']!r} is defined twice")
        names.add(entry["name"])
        where = f"{path}: theme {entry['name']!r}"
        themes.append(Theme(entry["name"], _compile(entry["match"], f"{where} match"),
                            _compile(entry["unless"], f"{where} unless") if entry.get("unless") else None))
    uncovered = data.get("uncovered") or {}
    words = {}
    for key in ("ignore", "edge"):
        listed = uncovered.get(key, "")
        if not isinstance(listed, str):
            raise VocabularyError(f"{path}: uncovered.{key}: expected words separated by spaces, got {listed!r}")
        words[key] = frozenset(lemma(t) for t in tokens(listed))
    return Vocabulary(tuple(themes), words["ignore"], words["edge"])


# ---------------------------------------------------------------- matching


def _keyed(text: str | None) -> tuple[str, list[int]]:
    """The lemma string " a b c " and the character offset where each lemma starts."""
    words = lemmas(text)
    starts, at = [], 1
    for w in words:
        starts.append(at)
        at += len(w) + 1
    return " " + " ".join(words) + " ", starts


def themes_of(text: str | None, vocabulary: Vocabulary | None = None) -> list[str]:
    """The themes a comment talks about, in vocabulary order."""
    keyed, _ = _keyed(text)
    return [t.name for t in (vocabulary or load_vocabulary()).themes if t.spans(keyed)]


def covered(text: str | None, vocabulary: Vocabulary | None = None) -> list[bool]:
    """Per token of the comment: is it inside a theme's match?"""
    keyed, starts = _keyed(text)
    spans = [s for t in (vocabulary or load_vocabulary()).themes for s in t.spans(keyed)]
    return [any(a <= start < b for a, b in spans) for start in starts]


def recurring_themes(surveys: pl.DataFrame, sentiments: tuple[str, ...] = ("negative", "neutral"),
                     vocabulary: Vocabulary | None = None) -> pl.DataFrame:
    """Themes in the comments of surveys rated `sentiments`, most frequent first.

    Columns: theme, comments (how many mention it), share_pct (of those comments,
    1 decimal), ticket_ids (the tickets behind the count)."""
    rated = surveys.filter(pl.col("sentiment").is_in(sentiments) & pl.col("comment").is_not_null())
    rows = [(theme, ticket) for ticket, comment in rated.select("ticket_id", "comment").iter_rows()
            for theme in themes_of(comment, vocabulary)]
    schema = {"theme": pl.String, "comments": pl.UInt32, "share_pct": pl.Float64, "ticket_ids": pl.List(pl.String)}
    if not rows:
        return pl.DataFrame(schema=schema)
    return (
        pl.DataFrame(rows, schema=["theme", "ticket_id"], orient="row")
        .group_by("theme")
        .agg(pl.len().cast(pl.UInt32).alias("comments"), pl.col("ticket_id").sort().alias("ticket_ids"))
        .with_columns((pl.col("comments") / rated.height * 100).round(1).alias("share_pct"))
        .sort(["comments", "theme"], descending=[True, False])
        .select(list(schema))
    )


def uncovered_phrases(comments: pl.DataFrame, min_comments: int = 2, limit: int = 10,
                      vocabulary: Vocabulary | None = None) -> pl.DataFrame:
    """Two- and three-word phrases that recur in these comments (ticket_id, comment) outside
    every theme's matches: candidates for the vocabulary. A phrase is counted once per comment,
    may not start or end with a function word (`uncovered: edge`) nor hold an `ignore` word, and
    a shorter phrase found in exactly the same comments as a longer one is left out.

    Columns: phrase (as most often written), comments, ticket_ids."""
    vocabulary = vocabulary or load_vocabulary()
    seen: dict[tuple[str, ...], set[str]] = {}
    spelled: dict[tuple[str, ...], Counter] = {}
    for ticket, text in comments.select("ticket_id", "comment").iter_rows():
        words, keys, inside = tokens(text), lemmas(text), covered(text, vocabulary)
        for n in (2, 3):
            for i in range(len(keys) - n + 1):
                key = tuple(keys[i:i + n])
                if (any(inside[i:i + n]) or key[0] in vocabulary.edge or key[-1] in vocabulary.edge
                        or _NUM in key or any(k in vocabulary.ignore for k in key)):
                    continue
                seen.setdefault(key, set()).add(ticket)
                spelled.setdefault(key, Counter())[" ".join(words[i:i + n])] += 1
    frequent = {k: v for k, v in seen.items() if len(v) >= min_comments}
    kept = [k for k, v in frequent.items()
            if not any(len(o) > len(k) and frequent[o] == v and _within(k, o) for o in frequent)]
    rows = sorted(((spelled[k].most_common(1)[0][0], len(frequent[k]), sorted(frequent[k])) for k in kept),
                  key=lambda r: (-r[1], r[0]))[:limit]
    return pl.DataFrame(rows, schema={"phrase": pl.String, "comments": pl.UInt32,
                                      "ticket_ids": pl.List(pl.String)}, orient="row")


def _within(short: tuple[str, ...], long: tuple[str, ...]) -> bool:
    return any(long[i:i + len(short)] == short for i in range(len(long) - len(short) + 1))
