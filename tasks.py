#!/usr/bin/env python3
"""Two commands on a fresh machine (only Python 3.11+ and pip needed):

    python3 tasks.py demo    # create .venv, install kseg, run `kseg demo` on the bundled data
    python3 tasks.py test    # create .venv, install kseg with its test extras, run the tests

Extra arguments go to the command: `python3 tasks.py test -k snapshot`,
`python3 tasks.py demo --out /tmp/kseg-out`. Set KSEG_VENV to use another environment folder.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("KSEG_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
TEST_COMMAND = ["-m", "pytest", "-n", "2", "--dist", "loadgroup"]


def _stamp(extra: str) -> Path:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    return VENV / f".kseg-installed-{extra or 'base'}-{digest}"


def ensure_env(extra: str = "") -> None:
    """Create the virtual environment and install kseg (editable) once per pyproject change."""
    if sys.version_info < (3, 11):  # noqa: UP036 (tasks.py may run under an older python3)
        sys.exit(f"kseg needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = _stamp(extra)
    if stamp.exists():
        return
    target = f"{ROOT}[{extra}]" if extra else str(ROOT)
    print(f"installing kseg{f'[{extra}]' if extra else ''} into {VENV}", flush=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "-e", target], check=True)
    stamp.touch()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test"}:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "demo":
        ensure_env()
        return subprocess.call([str(BIN / "kseg"), "demo", *rest], cwd=ROOT)
    ensure_env("dev")
    return subprocess.call([str(PYTHON), *TEST_COMMAND, *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
