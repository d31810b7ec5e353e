"""Render a resilsim HTML report to PNG in headless Chromium, to look at it as a reviewer would.

    python tools/screenshot_report.py out/report.html -o out/report.png
    python tools/screenshot_report.py out/run -o out/report.png     # a run/sweep/plan directory: report first

The page is opened from a file:// URL with networking off
(``--proxy-server`` pointing nowhere), so a report that needed anything from
the network would show it broken. Needs Chromium (Debian package
``chromium``). Exit status 2 with one sentence when it is missing.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def chromium() -> str | None:
    """The Chromium executable on PATH, or None."""
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def screenshot(html: Path, png: Path, width: int = 1200, height: int = 6000, timeout: float = 120) -> Path:
    """Write a ``width`` × ``height`` pixel screenshot of the page ``html`` to ``png``; return ``png``.

    The window is as tall as ``height`` because ``--screenshot`` captures
    the window, not the whole page.
    """
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("chromium not found on PATH (Debian: apt-get install chromium)")
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", f"--user-data-dir={profile}",
               f"--window-size={width},{height}", f"--screenshot={png.resolve()}", html.resolve().as_uri()]
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)
    return png


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", help="a report .html, or a run/sweep/plan directory to report on first")
    ap.add_argument("-o", "--output", default="out/report.png", help="PNG to write (default out/report.png)")
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=6000, help="window height in pixels (the page is cut there)")
    args = ap.parse_args(argv)
    src = Path(args.path)
    if chromium() is None:
        print("screenshot_report: chromium is not installed (Debian package `chromium`)", file=sys.stderr)
        return 2
    if src.is_dir():
        from resilsim.report import write_report
        html = write_report(src, Path(args.output).with_suffix(".html"))
    else:
        html = src
    png = screenshot(html, Path(args.output), args.width, args.height)
    print(f"wrote {png} from {html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
