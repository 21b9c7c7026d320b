"""Reports as PDF (the monthly report and the contract review pack): headless Chromium prints the
bundle's own report page.

One Chromium process prints every page through the DevTools protocol over a pipe
(`--remote-debugging-pipe`: ~0.1 s a page instead of ~0.8 s for a process per page;
a process per page, `--print-to-pdf`, is the fallback). A monthly report is printed in each
client's latest month, a review pack in whichever month holds it; each only when what the
page shows changed since the last print (a digest of the
notebook, the stale notice, the client's name, the templates and the renderer, kept in
`build/publish/pdf_digests.json`). A PDF of an earlier month is kept as it was issued.
Where no Chromium is found the PDF is skipped with a message saying so.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from pipelines.core import config
from pipelines.core.io import digest, read_json, write_json
from pipelines.core.layout import STALE_FILE, Layout
from pipelines.core.reports import PDF_LATEST, printed
from pipelines.site.inventory import Inventory
from pipelines.site.pages import template_files

BASE_QUARTO = config.ROOT / "_quarto.yml"

CHROMIUM_ENV = "SERVICEREVIEW_CHROMIUM"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DIGESTS = "pdf_digests.json"  # in the build's publish folder


class PdfError(RuntimeError):
    """Chromium did not produce a PDF (the message names the page and Chromium's complaint)."""


def find_chromium(explicit: str | Path | None = None) -> tuple[Path | None, str | None]:
    """(browser, None) or (None, why not). `explicit`, then $SERVICEREVIEW_CHROMIUM, then PATH."""
    chosen = explicit or os.environ.get(CHROMIUM_ENV)
    if chosen:
        path = Path(chosen)
        if path.is_file() and os.access(path, os.X_OK):
            return path, None
        source = "chromium=" if explicit else f"{CHROMIUM_ENV}="
        return None, f"PDFs skipped: {source}{chosen} is not an executable file"
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found), None
    return None, (f"PDFs skipped: no Chromium found (looked for {', '.join(CANDIDATES)} on PATH and "
                  f"${CHROMIUM_ENV}); install Debian's chromium package to get PDFs")


def chromium_args(chromium: Path, profile: str) -> list[str]:
    """Headless, offline-minded flags: no first-run, sync, component updates or background traffic."""
    args = [str(chromium), "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # Chromium refuses to sandbox as root
        args.append("--no-sandbox")
    return args


def print_pdf(chromium: Path, page: Path, pdf: Path, timeout: float = 120) -> Path:
    """Print one HTML page to `pdf` with headless Chromium (print CSS applies)."""
    pdf.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="servicereview-chromium-") as profile:
        args = [*chromium_args(chromium, profile), "--no-pdf-header-footer",
                f"--print-to-pdf={pdf}", page.resolve().as_uri()]
        try:
            proc = subprocess.run(args, check=False, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise PdfError(f"{page}: Chromium did not finish printing within {timeout:.0f}s") from None
    if not pdf.exists() or pdf.read_bytes()[:5] != b"%PDF-":
        complaint = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise PdfError(f"{page}: Chromium wrote no PDF (exit code {proc.returncode}): {complaint}")
    return pdf


# moves the pipe to fds 3 and 4, makes the browser die with us (the setting survives exec), execs it
_LAUNCHER = ("import os, sys; from pipelines.core.processes import die_with_parent; "
             "die_with_parent(int(sys.argv[1])); os.dup2(int(sys.argv[2]), 3); os.dup2(int(sys.argv[3]), 4); "
             "os.execv(sys.argv[4], sys.argv[4:])")


class Devtools:
    """One headless Chromium driven over `--remote-debugging-pipe` (fds 3 and 4, NUL-framed JSON)."""

    def __init__(self, chromium: Path, timeout: float = 60):
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="servicereview-chromium-")
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        child_in, self._to_child = os.pipe()
        self._from_child, child_out = os.pipe()
        # the child's ends must not sit on fds 3 or 4 themselves, or the redirections clobber them
        child_in, child_out = (_above_four(fd) for fd in (child_in, child_out))
        args = [*chromium_args(chromium, self._profile.name), "--remote-debugging-pipe", "about:blank"]
        # the protocol needs the pipe on fds 3 and 4 exactly: a tiny launcher moves them there
        # (not a shell: dash cannot redirect fds above 9)
        try:
            self._proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(os.getpid()), str(child_in),
                                           str(child_out), *args], pass_fds=(child_in, child_out),
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=self._stderr)
        finally:
            os.close(child_in)
            os.close(child_out)
        self._buffer = bytearray()
        self._id = 0
        self._session = None
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
            self._session = attached["sessionId"]
            self.call("Page.enable", session=True)
        except BaseException:
            self.close()
            raise

    def call(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        """Send one DevTools command (to the page's session if asked) and return its result."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        try:
            os.write(self._to_child, json.dumps(message).encode() + b"\0")
        except OSError as exc:
            raise PdfError(f"Chromium is gone ({exc}): {self._complaint()}") from None
        reply = self._wait(lambda m: m.get("id") == self._id, method)
        if "error" in reply:
            raise PdfError(f"Chromium refused {method}: {reply['error'].get('message', reply['error'])}")
        return reply.get("result", {})

    def _wait(self, match, what: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            end = self._buffer.find(b"\0")
            if end >= 0:
                message = json.loads(bytes(self._buffer[:end]))
                del self._buffer[:end + 1]
                if match(message):
                    return message
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise PdfError(f"Chromium did not answer {what} within {self.timeout:.0f}s")
            if select.select([self._from_child], [], [], left)[0]:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise PdfError(f"Chromium exited: {self._complaint()}")
                self._buffer += chunk

    def _complaint(self) -> str:
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        code = self._proc.poll()
        return (f"exit code {code}, " if code is not None else "") + (lines[-1] if lines else "no message")

    def print(self, page: Path, pdf: Path) -> Path:
        """Load a page and print it (A4 from the print CSS, backgrounds on, no header/footer)."""
        result = self.call("Page.navigate", {"url": page.resolve().as_uri()}, session=True)
        if result.get("errorText"):
            raise PdfError(f"{page}: Chromium could not open it ({result['errorText']})")
        self._wait(lambda m: m.get("method") == "Page.loadEventFired"
                   and m.get("sessionId") == self._session, f"loading {page}")
        data = self.call("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True,
                                             "displayHeaderFooter": False}, session=True)["data"]
        pdf.write_bytes(base64.b64decode(data))
        return pdf

    def close(self) -> None:
        try:
            self.call("Browser.close")
            self._proc.wait(timeout=10)
        except (PdfError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
        finally:
            os.close(self._to_child)
            os.close(self._from_child)
            self._stderr.close()
            self._profile.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _above_four(fd: int) -> int:
    if fd > 4:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


def print_pdfs(chromium: Path, pages: list[tuple[Path, Path]]) -> dict[Path, str | None]:
    """Print (page, pdf) pairs with one Chromium; falls back to a process per page. pdf -> error."""
    errors: dict[Path, str | None] = {}
    try:
        browser = Devtools(chromium)
    except (PdfError, OSError):
        browser = None
    if browser is not None:
        with browser:
            for page, pdf in pages:
                try:
                    browser.print(page, pdf)
                    errors[pdf] = None
                except (PdfError, OSError) as exc:
                    errors[pdf] = str(exc)
                    if "Chromium exited" in str(exc) or "Chromium is gone" in str(exc):
                        break
    for page, pdf in pages:
        if errors.get(pdf, "retry") is not None:  # not printed above: one process for this page
            try:
                print_pdf(chromium, page, pdf)
                errors[pdf] = None
            except (PdfError, OSError) as exc:
                errors[pdf] = str(exc)
    return errors


# ---------------------------------------------------------------- which PDFs to make


@dataclass
class PdfJob:
    client_id: str
    period: str
    action: str  # "print", "reuse" (copy the previous file) or "none"
    digest: str
    previous: Path | None = None
    notebook: str = "monthly_report"

    @property
    def key(self) -> str:
        """Where its digest is kept (a monthly report's is '<client>/<period>', as it always was)."""
        base = f"{self.client_id}/{self.period}"
        return base if self.notebook == "monthly_report" else f"{base}/{self.notebook}"


@dataclass
class PdfOutcome:
    printed: int = 0
    reused: int = 0
    failed: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # client -> (period, notebook)
    warnings: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)


def _content_digest(month, client_name: str, engine, notebook: str = "monthly_report") -> str:
    report = month.reports[notebook]
    stale = report.path.parent / STALE_FILE
    # the page is the engine's work too: a change in how outputs become HTML reprints
    made_with = [p.read_bytes() for p in template_files()]
    made_with += [p.read_bytes() for p in getattr(engine, "CODE", [Path(engine.__file__)])]
    if engine.NAME == "quarto" and BASE_QUARTO.exists():
        made_with.append(BASE_QUARTO.read_bytes())
    return digest(engine.NAME, client_name, report.path.read_bytes(),
                  stale.read_bytes() if stale.exists() else b"", *made_with)


def plan(inventory: Inventory, previous_bundles: Path, layout: Layout, engine, can_print: bool,
         ) -> dict[str, dict[tuple[str, str], PdfJob]]:
    """Per client, month and printed report (`pipelines.core.reports.printed`): print it when what
    the page shows changed, else keep the PDF issued before. A monthly report is printed in the
    client's latest month only (earlier months keep theirs); a review pack in every month it is in.
    `engine` is the publish engine module (its name and code are part of a page's digest)."""
    digests_file = layout.publish / DIGESTS
    known = read_json(digests_file) if digests_file.exists() else {}
    jobs: dict[str, dict[tuple[str, str], PdfJob]] = {}
    for client_id, client in inventory.clients.items():
        jobs[client_id] = {}
        for spec in printed():
            months = [(p, m) for p, m in client.months.items() if spec.name in m.reports]
            for i, (period, month) in enumerate(months):
                old = Path(previous_bundles) / client_id / period / f"{spec.name}.pdf"
                old = old if old.is_file() else None
                job = PdfJob(client_id, period, "none", "", old, spec.name)
                recorded = known.get(job.key)
                if spec.pdf == PDF_LATEST and i > 0:
                    job.action = "reuse" if old else "none"
                    job.digest = recorded.get("content", "") if isinstance(recorded, dict) else ""
                else:
                    job.digest = _content_digest(month, client.name, engine, spec.name)
                    job.action = "reuse" if old and _published(recorded, job.digest, old) else \
                        "print" if can_print else "none"
                jobs[client_id][(period, spec.name)] = job
    return jobs


def produce(jobs: dict[str, dict[tuple[str, str], PdfJob]], bundles: Path, chromium: Path | None) -> PdfOutcome:
    """Copy the kept PDFs and print the new ones into the (staging) bundles folder."""
    outcome = PdfOutcome()
    to_print = []
    for client_jobs in jobs.values():
        for job in client_jobs.values():
            target = Path(bundles) / job.client_id / job.period / f"{job.notebook}.pdf"
            if job.action == "reuse":
                shutil.copy2(job.previous, target)
                outcome.reused += 1
                if job.digest:
                    outcome.digests[job.key] = job.digest
            elif job.action == "print":
                to_print.append((job, target))
    if chromium is None or not to_print:
        return outcome
    errors = print_pdfs(chromium, [(t.with_name(f"{job.notebook}.html"), t) for job, t in to_print])
    for job, target in to_print:
        error = errors.get(target, "not printed")
        if error:
            target.unlink(missing_ok=True)
            outcome.failed.setdefault(job.client_id, set()).add((job.period, job.notebook))
            outcome.warnings.append(f"PDF of {job.key.replace('/', ' ')} not made: {error}")
        else:
            outcome.printed += 1
            outcome.digests[job.key] = job.digest
    return outcome


def save_digests(layout: Layout, digests: dict[str, str], bundles: Path) -> None:
    """Remember what each published PDF was printed from, with the PDF's own hash (so an
    unchanged report is not printed again, and a PDF that is not the one printed never counts
    as unchanged). Called after the bundles are swapped in; `bundles` is where they are."""
    published = {}
    for key, content in sorted(digests.items()):
        client_id, period, *notebook = key.split("/")  # PdfJob.key
        path = Path(bundles) / client_id / period / f"{(notebook or ['monthly_report'])[0]}.pdf"
        if path.is_file():
            published[key] = {"content": content, "pdf": digest(path.read_bytes())}
    write_json(published, layout.publish / DIGESTS)


def _published(recorded: object, content: str, pdf: Path) -> bool:
    """The PDF at `pdf` is the one printed from `content` (an older, plain digest: no)."""
    return (isinstance(recorded, dict) and recorded.get("content") == content
            and recorded.get("pdf") == digest(pdf.read_bytes()))
