"""A streamed run's peak memory at 1M and 10M requests (issue 18's fifth target: 10M within 1.5 × 1M).

Each size runs ``resilsim run benchmarks/reference.yaml --set duration=N/60 --stream --no-charts`` in a
fresh interpreter (``--child N``), which prints its own peak RSS (``ru_maxrss``) and wall seconds: the
command writes every request and attempt row to Parquet as the run goes, so its memory must not grow
with the number of requests (what does grow: the per-second timeline and the Parquet footers).

Usage::

    python benchmarks/stream_memory.py                          # 1M and 10M requests, one run each
    python benchmarks/stream_memory.py --requests 200000 2000000
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RATE = 60.0  # the reference workload's requests per simulated second
TARGET = 1.5  # peak RSS at the large size / at the small one


def child(n: int, out: str) -> dict:
    """Run the streamed command for ``n`` requests into ``out``; return its wall seconds and peak RSS (MiB)."""
    from resilsim.cli import main

    t0 = time.perf_counter()
    rc = main(["run", str(HERE / "reference.yaml"), "--set", f"duration={n / RATE:g}", "--stream",
               "--no-charts", "--out", out])
    wall = time.perf_counter() - t0
    if rc:
        raise SystemExit(rc)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return {"requests": n, "wall_s": wall, "peak_mib": rss / 2 ** 20 if sys.platform == "darwin" else rss / 1024}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, nargs=2, metavar=("SMALL", "LARGE"), default=(1_000_000, 10_000_000))
    ap.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(a.child, a.out)))
        return 0
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.requests:
            out = subprocess.run([sys.executable, __file__, "--child", str(n), "--out", str(Path(tmp) / str(n))],
                                 cwd=ROOT, check=True, capture_output=True, text=True).stdout
            runs[n] = json.loads(out.strip().splitlines()[-1])
            print(f"{n:>12,} requests: peak {runs[n]['peak_mib']:.1f} MiB, {runs[n]['wall_s']:.1f} s wall", flush=True)
    small, large = a.requests
    ratio = runs[large]["peak_mib"] / runs[small]["peak_mib"]
    print(f"peak RSS {large:,} / {small:,}: {ratio:.2f} (target <= {TARGET}: {'met' if ratio <= TARGET else 'NOT met'})")
    if a.json:
        Path(a.json).write_text(json.dumps({"small": runs[small], "large": runs[large], "ratio": ratio}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
