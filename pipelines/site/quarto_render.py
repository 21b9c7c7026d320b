"""Rendering staged Quarto projects: only what changed, and so that the result opens from disk.

Quarto has no incremental project render, and each `quarto render` costs ~2 CPU-seconds of
start-up (project context, the Bootstrap theme compiled again) plus ~0.7 CPU-second a page.
So each staging project keeps its `_site/` between publishes, with a manifest of content
hashes: a page is rendered again only when its staged file or the sidebar it shows changed.
Those pages are rendered as a project of their own that holds only them (`_render_groups`):
`quarto render <page> <page> ...` would start Quarto again for every page. Anything shared by
every page (the configuration apart from the render list and the sidebars, the stylesheet,
the Quarto executable, this package's staging code) changing, or a page going away, means a
full render. When fewer projects than cores have work, a project's pages are split between
several processes.

Quarto 1.7 also loads `quarto.js` as an ES module, which browsers refuse from `file://`,
and its search fetches `search.json`, which they refuse too; `make_offline` rewrites the
copy that is published so that a client opening their bundle from a folder gets no console
error and a working search (the search index is also written as a classic script).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipelines.core.io import digest, read_json, write_json
from pipelines.site.pages import PublishError, write_attachments

MANIFEST = ".servicereview-render.json"
KEEP = {"_site", ".quarto", MANIFEST}  # in a staging project: Quarto's output and bookkeeping
PAGE_SUFFIXES = (".ipynb", ".qmd")
CODE = [Path(__file__), Path(__file__).with_name("quarto.py")]
SHARD_PAGES = 2  # fewest pages worth a process of their own (each starts in ~2 CPU-s, a page ~0.7)
# Quarto's own per-project cache (Deno KV): it memoises the theme's exported colour variables,
# a parse of all of Bootstrap's SCSS that costs ~1.5 CPU-s and is the same for every project.
# It is kept across full renders, and a project without one starts from a copy of the first
# one made (`seed_of`), kept in the user's cache folder as Quarto keeps its compiled Sass there.
PROJECT_CACHE = Path(".quarto") / "project-cache"
CACHE_ENV = "SERVICEREVIEW_CACHE"


def dump_yaml(data: object) -> str:
    """YAML for Quarto (keys in their order), by libyaml's emitter where PyYAML has it."""
    return yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False, allow_unicode=True)


@dataclass
class Project:
    """A staged Quarto project: its files (path -> bytes), pages, sidebars and configuration."""

    name: str
    folder: Path  # the staging project (kept between publishes)
    out: Path  # where the rendered site goes
    files: dict[str, bytes] = field(default_factory=dict)
    pages: list[str] = field(default_factory=list)  # the render list, in order
    sidebars: list[dict] = field(default_factory=list)
    downloads: dict[str, dict[str, str]] = field(default_factory=dict)  # page -> its CSV files
    config: dict = field(default_factory=dict)

    def add(self, path: str, data: bytes, page: bool | None = None, downloads: dict | None = None) -> None:
        self.files[path] = data
        if page if page is not None else path.endswith(PAGE_SUFFIXES):
            self.pages.append(path)
        if downloads:
            self.downloads[path] = downloads


# ---------------------------------------------------------------- what must be rendered


def _contains(items, href: str) -> bool:
    for item in items or []:
        if isinstance(item, dict) and (item.get("href") == href or _contains(item.get("contents"), href)):
            return True
    return False


def page_keys(project: Project, quarto: Path) -> tuple[str, dict[str, str]]:
    """(what every page shares, per page: its file and the sidebar it shows) as content hashes."""
    shared = json.loads(json.dumps(project.config))
    shared.get("project", {}).pop("render", None)
    shared.get("website", {}).pop("sidebar", None)
    assets = [f"{p}={digest(b)}" for p, b in sorted(project.files.items()) if p not in project.pages]
    common = digest(json.dumps(shared, sort_keys=True), *assets, executable_identity(quarto),
                    *(p.read_bytes() for p in CODE))
    keys = {}
    for page in project.pages:
        sidebar = next((s for s in project.sidebars if _contains(s.get("contents"), html_of(page))), None)
        keys[page] = digest(project.files[page], json.dumps(sidebar, sort_keys=True))
    return common, keys


def plan(project: Project, quarto: Path) -> tuple[str, list[str]]:
    """("full", all pages), ("pages", the changed ones) or ("none", []) for this project."""
    common, keys = page_keys(project, quarto)
    path = project.folder / MANIFEST
    known = read_json(path) if path.exists() else {}
    rendered = project.folder / "_site"
    if known.get("common") != common or not rendered.is_dir() or set(known.get("pages", {})) - set(keys):
        return "full", list(project.pages)
    changed = [p for p, key in keys.items() if known["pages"].get(p) != key or not (rendered / html_of(p)).exists()]
    return ("pages", changed) if changed else ("none", [])


# ---------------------------------------------------------------- staging and rendering


def _sync(project: Project) -> None:
    """Write the staged files (only those whose bytes changed) and delete any other file."""
    folder = project.folder
    files = dict(project.files)
    files["_quarto.yml"] = dump_yaml(project.config).encode()
    for path in [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []:
        rel = path.relative_to(folder)
        if rel.parts[0] not in KEEP and rel.as_posix() not in files:
            path.unlink()
    for rel, data in files.items():
        target = folder / rel
        if not (target.exists() and target.read_bytes() == data):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


def _quarto(quarto: Path, folder: Path, args: list[str]) -> None:
    # warnings and errors only: `--quiet` would swallow the error message of a failed render too
    proc = subprocess.run([str(quarto), "render", *args, "--log-level=warning"], check=False, cwd=folder,
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise PublishError(f"quarto render in {folder} failed (exit code {proc.returncode}):\n{tail}")


def prepare(quarto: Path, project: Project) -> tuple[str, list[str]]:
    """Write the staging project and say what must be rendered (`plan`)."""
    _sync(project)
    return plan(project, quarto)


def render(quarto: Path, project: Project, todo: tuple[str, list[str]], shards: int = 1) -> int:
    """Render `todo` (from `prepare`) in `project`, publish it into `project.out`; returns its
    pages. With shards > 1 (cores that would otherwise wait), the pages are split between that
    many `quarto render` processes (`_render_groups`)."""
    how, pages = todo
    manifest = project.folder / MANIFEST
    if how == "full":
        manifest.unlink(missing_ok=True)
        shutil.rmtree(project.folder / "_site", ignore_errors=True)
        for leftover in (project.folder / ".quarto").glob("*"):
            if leftover.name != PROJECT_CACHE.name:
                shutil.rmtree(leftover, ignore_errors=True)
    seed, cache = seed_of(quarto), project.folder / PROJECT_CACHE
    if how != "none" and not cache.exists() and seed.exists():
        shutil.copytree(seed, cache)
    split = how != "none" and shards > 1 and len(pages) >= SHARD_PAGES * shards
    groups = [pages[i::shards] for i in range(shards)] if split else [pages] if how == "pages" else []
    if groups:
        _render_groups(quarto, project, groups)
    elif how == "full":
        _quarto(quarto, project.folder, [])
    if cache.exists() and not seed.exists():
        _share(cache, seed)
    common, keys = page_keys(project, quarto)
    last = {"how": how, "pages": len(pages)} | ({"shards": len(groups)} if split else {})
    write_json({"common": common, "pages": keys, "last": last}, manifest)
    shutil.copytree(project.folder / "_site", project.out, dirs_exist_ok=True)
    make_offline(project.out)
    for page, files in project.downloads.items():
        write_attachments(project.out / Path(page).parent, files)
    return sum(1 for _ in project.out.rglob("*.html"))


def seed_of(quarto: Path) -> Path:
    """Where a project cache is kept for projects that have none yet, one per Quarto executable:
    $SERVICEREVIEW_CACHE, else servicereview/ in the user's cache folder ($XDG_CACHE_HOME, else
    ~/.cache). Its entries are keyed by a hash of their input, so every project and every
    publish can share them: a publish from a clean build folder skips the theme's parse too
    (~3 s of a publish from scratch)."""
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    base = Path(os.environ.get(CACHE_ENV) or user_cache / "servicereview")
    return base / f"quarto-project-cache-{digest(executable_identity(quarto))[:16]}"


def _share(cache: Path, seed: Path) -> None:
    """Copy `cache` to `seed` whole or not at all (projects rendering at once may race)."""
    seed.parent.mkdir(parents=True, exist_ok=True)
    partial = seed.with_name(f"{seed.name}.{os.getpid()}.{id(cache)}")
    shutil.copytree(cache, partial)
    try:
        partial.rename(seed)
    except OSError:  # another project made the seed first
        shutil.rmtree(partial, ignore_errors=True)


def _render_groups(quarto: Path, project: Project, groups: list[list[str]]) -> None:
    """Render each group of pages, at once, as a project of its own beside `project.folder`:
    the configuration with the group as its render list, the shared files and the group's pages.
    A project render starts Quarto once (`quarto render a b` starts it again for every page, at
    ~1.2 CPU-s each). The pages and their figures come back into `project.folder/_site`, as a
    full render gives them (every link names a page's output, so a page does not depend on
    what is rendered with it), and their entries replace theirs in its search index."""
    folder, site = project.folder, project.folder / "_site"
    parts = [folder.with_name(f".{folder.name}.part{i}") for i in range(len(groups))]
    shared = {p: b for p, b in project.files.items() if p not in project.pages}
    try:
        for part, group in zip(parts, groups):
            shutil.rmtree(part, ignore_errors=True)
            config = json.loads(json.dumps(project.config))
            config["project"]["render"] = group
            files = shared | {p: project.files[p] for p in group}
            files["_quarto.yml"] = dump_yaml(config).encode()
            for rel, data in files.items():
                (part / rel).parent.mkdir(parents=True, exist_ok=True)
                (part / rel).write_bytes(data)
            if (folder / PROJECT_CACHE).exists():
                shutil.copytree(folder / PROJECT_CACHE, part / PROJECT_CACHE)
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            list(pool.map(lambda part: _quarto(quarto, part, []), parts))
        if not site.is_dir():  # a full render, split: the libraries and assets come with the first part
            shutil.copytree(parts[0] / "_site", site)
        search = _search_entries(folder)
        for part, group in zip(parts, groups):
            html = {html_of(p) for p in group}
            for page in html:
                figures = f"{page.removesuffix('.html')}_files"
                shutil.rmtree(site / figures, ignore_errors=True)
                if (part / "_site" / figures).is_dir():
                    shutil.copytree(part / "_site" / figures, site / figures)
                (site / page).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(part / "_site" / page, site / page)
            search = [e for e in search if e["href"].split("#")[0] not in html] + \
                     [e for e in _search_entries(part) if e["href"].split("#")[0] in html]
        write_json(search, site / "search.json")
    finally:
        for part in parts:
            shutil.rmtree(part, ignore_errors=True)


def _search_entries(folder: Path) -> list[dict]:
    path = folder / "_site" / "search.json"
    return read_json(path) if path.exists() else []


def html_of(page: str) -> str:
    """The output of a page (`2026-10/monthly_report.ipynb` -> `2026-10/monthly_report.html`)."""
    return re.sub(r"\.(ipynb|qmd)$", ".html", page)


def last_render(folder: Path) -> dict:
    """How the project in `folder` was last rendered: {"how": full|pages|none, "pages": n}
    (and "shards": k when its pages were split between k processes)."""
    path = Path(folder) / MANIFEST
    return read_json(path).get("last", {}) if path.exists() else {}


def forget_others(staging: Path, keep: set[str]) -> None:
    """Remove staging projects of clients no longer published."""
    for folder in staging.iterdir() if staging.is_dir() else []:
        if folder.is_dir() and folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- opening from disk

_MODULE_TAG = re.compile(r'<script src="([^"]*site_libs/quarto-html/)(quarto|tabsets/tabsets)\.js" '
                         r'type="module"></script>')
_IMPORT = 'import * as tabsets from "./tabsets/tabsets.js";'
_SEARCH_GUARD = re.compile(r'if \(window\.location\.protocol === "file:" && !shownWarning\) \{.*?\n    \}\n',
                           re.DOTALL)
_SEARCH_FROM_DISK = """if (window.location.protocol === "file:") {
      // servicereview: from a folder, the index comes as a classic script (fetch is refused there)
      const docs = await new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = offsetURL("search.js");
        script.onload = () => resolve(window.servicereviewSearch || []);
        script.onerror = reject;
        document.head.appendChild(script);
      });
      const diskFuse = new window.Fuse([], kFuseIndexOptions);
      docs.forEach((doc) => diskFuse.add(doc));
      fuseIndex = diskFuse;
      return fuseIndex;
    }
"""


def make_offline(site: Path) -> None:
    """Make a rendered Quarto site work from `file://` as well as over http (idempotent)."""
    libs = site / "site_libs" / "quarto-html"
    main, tabsets = libs / "quarto.js", libs / "tabsets" / "tabsets.js"
    if main.exists() and tabsets.exists() and _IMPORT in (text := main.read_text(encoding="utf-8")):
        module = tabsets.read_text(encoding="utf-8").replace("export function init", "function init")
        inlined = f"const tabsets = (function () {{\n{module}\nreturn {{ init }};\n}})();"
        main.write_text('(function () {\n"use strict";\n' + text.replace(_IMPORT, inlined) + "\n})();\n",
                        encoding="utf-8")
    search = site / "site_libs" / "quarto-search" / "quarto-search.js"
    if search.exists() and "servicereviewSearch" not in (text := search.read_text(encoding="utf-8")):
        patched, count = _SEARCH_GUARD.subn(lambda _: _SEARCH_FROM_DISK, text, count=1)
        if count:
            search.write_text(patched, encoding="utf-8")
    if (site / "search.json").exists():
        _write_search(site, json.loads((site / "search.json").read_text(encoding="utf-8")))
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        fixed = _MODULE_TAG.sub(lambda m: "" if m.group(2) != "quarto" else
                                f'<script src="{m.group(1)}quarto.js" defer></script>', text)
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")


def _write_search(site: Path, entries: list) -> None:
    index = json.dumps(entries, ensure_ascii=False)
    (site / "search.json").write_text(index, encoding="utf-8")
    (site / "search.js").write_text(f"window.servicereviewSearch = {index};\n", encoding="utf-8")


def merge_search(site: Path, parts: dict[str, Path], skip: tuple[str, ...] = ("methodology.html",)) -> None:
    """Add the search entries of the sites in `parts` (folder inside `site` -> the site rendered
    there) to `site`'s search index, their links made relative to `site`; the pages in `skip`
    (the same in every part and in `site`) are left out."""
    path = site / "search.json"
    if not path.exists():
        return
    entries = json.loads(path.read_text(encoding="utf-8"))
    for prefix, part in parts.items():
        index = part / "search.json"
        for entry in json.loads(index.read_text(encoding="utf-8")) if index.exists() else []:
            if entry["href"].split("#")[0] not in skip:
                entries.append({**entry, "objectID": prefix + entry["objectID"], "href": prefix + entry["href"]})
    _write_search(site, entries)


def executable_identity(quarto: Path) -> str:
    """The Quarto executable as part of a content hash (a new Quarto renders everything)."""
    stat = os.stat(quarto)
    return f"{quarto}:{stat.st_size}:{stat.st_mtime_ns}"
