"""A run that cannot write (a full disk, a home that is not writable) says so, cleans up and
records itself; staging left by a killed run is swept."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys

from tests.conftest import copy_sample

STAGING = ("._site.tmp-424242", "build/.clean.new-424242", "reports/2026-10/.tmp-harbor-dental-424242",
           "build/.last_run.json.424242.tmp", "._site_clients.old-424242")


def _full_disk() -> None:
    """In the child: every file may grow to 64 kB only (a full disk, as the writer sees it)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))


def _run(*args, home, preexec=None):
    env = dict(os.environ, SERVICEREVIEW_HOME=str(home), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300, preexec_fn=preexec)


def test_a_full_disk_is_reported_cleaned_up_and_recorded(tmp_path):
    data = copy_sample(tmp_path / "data")
    home = tmp_path / "home"
    for name in STAGING:  # what a killed run leaves behind
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".tmp"):
            (home / name).write_text("half a file")
        else:
            (home / name).mkdir()
    (home / "build" / "run_summary.json").write_text(json.dumps({"exit_code": 0, "period": "2026-09"}))
    done = _run("run", "--data", str(data), home=home, preexec=_full_disk)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "File too large (the disk is full or a file size limit is reached" in " ".join(done.stderr.split())
    assert [name for name in STAGING if (home / name).exists()] == []
    assert not list((home / "build").glob(".clean.new-*"))  # nor the failed run's own staging
    summary = json.loads((home / "build" / "run_summary.json").read_text())
    assert summary["exit_code"] == 2 and "File too large" in summary["error"]


def test_a_home_that_cannot_be_written_is_a_message_not_a_traceback(tmp_path):
    data = copy_sample(tmp_path / "data")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the workspace should be")
    for command in (["run", "--data", str(data)], ["clean", "--data", str(data)]):
        done = _run(*command, home=blocker / "home")
        assert done.returncode == 2, (command, done.stderr)
        assert "Traceback" not in done.stderr
        text = " ".join(done.stderr.split())
        assert "Not a directory (that folder cannot be written: check its permissions, or set " \
               "SERVICEREVIEW_HOME to a writable folder)" in text, text
