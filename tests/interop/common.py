"""Helpers shared by the interop tests: skipping rules, temp folders, running our programs.

Interop tests run under Debian's /usr/bin/python3 (the only Python with the libtorrent module).
A missing client skips the test (exit 77) on a developer's machine; under CI=true it fails instead,
because ./run.sh test installs every client.
"""
import os
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


def require(condition: bool, what: str) -> None:
    """Skip (or, in CI, fail) when a client or module is absent."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        print(f"FAIL: {what} is missing, and CI must run every interop test", file=sys.stderr)
        sys.exit(1)
    print(f"SKIP: {what} is missing", file=sys.stderr)
    sys.exit(SKIP)


def require_program(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"program {name}")
    return path


def import_libtorrent():
    try:
        import libtorrent  # noqa: PLC0415 - optional dependency, checked here
    except ImportError:
        require(False, "python3-libtorrent (import libtorrent under /usr/bin/python3)")
    return libtorrent


def run(cmd, **kw) -> subprocess.CompletedProcess:
    """Runs a command with a timeout, returning its output; raises with stderr on failure."""
    kw.setdefault("timeout", 120)
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def temp_dir() -> str:
    return tempfile.mkdtemp(prefix="minibit-interop-")


def write_random(path: str, size: int, seed: int) -> None:
    """Writes `size` deterministic pseudo-random bytes."""
    import random

    rng = random.Random(seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        remaining = size
        while remaining > 0:
            n = min(remaining, 1 << 20)
            f.write(rng.randbytes(n))
            remaining -= n
