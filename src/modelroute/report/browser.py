"""Rendering a report in headless Chromium: the DOM after scripts ran, and a screenshot.

Used by the tests and by `docs/images/` screenshots; needs the `chromium` executable
(Debian package `chromium`). Flags keep it offline and stateless: no sandbox (we run as
root in CI), no GPU, no background networking, a fresh profile directory per run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "headless_shell")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_chromium() -> str | None:
    """Path of a Chromium executable on PATH, or None."""
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass(frozen=True, slots=True)
class Rendered:
    """What Chromium made of a page: the DOM after load, and its console/stderr output."""

    dom: str
    log: str


def _run(extra: list[str], page: Path, timeout_s: float) -> subprocess.CompletedProcess[str]:
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="modelroute-chromium-") as profile:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
        env = {**os.environ, "HOME": profile}
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout_s, check=False, env=env
        )


def dump_dom(page: str | os.PathLike[str], *, timeout_s: float = 120.0) -> Rendered:
    """The page's DOM once loaded (scripts run, virtual time allowed to settle)."""
    proc = _run(
        ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom"],
        Path(page),
        timeout_s,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"chromium --dump-dom failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return Rendered(proc.stdout, proc.stderr)


def screenshot(
    page: str | os.PathLike[str],
    png: str | os.PathLike[str],
    *,
    width: int = 1280,
    height: int = 2400,
    timeout_s: float = 120.0,
) -> Path:
    """Save a `width` x `height` screenshot of the page to `png`; returns its path."""
    out = Path(png).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    proc = _run(
        [f"--window-size={width},{height}", "--virtual-time-budget=10000", f"--screenshot={out}"],
        Path(page),
        timeout_s,
    )
    if not out.is_file():
        raise RuntimeError(
            f"chromium --screenshot failed ({proc.returncode}): {proc.stderr[-2000:]}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m modelroute.report.browser REPORT.html OUT.png [HEIGHT]`: screenshot a report."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        print("usage: python -m modelroute.report.browser REPORT.html OUT.png [HEIGHT]")
        return 2
    height = int(args[2]) if len(args) == 3 else 2400
    print(screenshot(args[0], args[1], height=height))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
