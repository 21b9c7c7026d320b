"""Content hashes that decide what a run must redo: nothing when the inputs, templates and
code are unchanged, and per client only the clients whose data changed."""

from __future__ import annotations

from pathlib import Path

from pipelines.core.io import digest, read_table
from pipelines.core.schemas import TABLES
from pipelines.metrics import tone

PACKAGE = Path(__file__).resolve().parents[1]  # the whole pipelines package
CODE_SUFFIXES = {".py", ".yml", ".yaml", ".j2", ".html", ".css", ".md"}


def files_digest(paths: list[Path]) -> str:
    """Hash of files' names and bytes, in name order."""
    return digest(*[p.name.encode() + p.read_bytes() for p in sorted(paths)])


def code_digest() -> str:
    """Hash of the package's code and data files: a code change re-executes every report."""
    return files_digest([p for p in PACKAGE.rglob("*") if p.is_file() and p.suffix in CODE_SUFFIXES])


def recipe_digest(template_paths: list[Path]) -> str:
    """Hash of how reports are made (templates, code, settings): a change re-executes every client."""
    return digest(files_digest(template_paths), code_digest(), f"tone_min_labels={tone.min_labels_setting()}")


def inputs_digest(data: Path, recipe: str, period: str | None, clients: list[str] | None) -> str:
    """Hash of a whole run's inputs: unchanged means there is nothing to do at all."""
    raw = [p for p in data.rglob("*") if p.is_file() and "dirty" not in p.relative_to(data).parts]
    return digest(files_digest(raw), recipe, str(period), ",".join(sorted(clients or [])))


def client_digest(client_id: str, clean_dir: Path, base: str, metrics_dir: Path | None = None) -> str:
    """Hash of everything a client's gate and reports are computed from: its clean rows and,
    given the metrics folder, its comments' tone and the tone fit (trained on every client)."""
    parts = [base, (clean_dir / "contracts" / f"{client_id}.yml").read_bytes()]
    if metrics_dir is not None:
        parts.append(tone.fingerprint(metrics_dir, client_id))
    for name in TABLES:
        frame = read_table(clean_dir, name, client_id=client_id)
        parts.append(f"{frame.hash_rows().sum() if frame.height else 0}:{frame.height}")
    return digest(*parts)
