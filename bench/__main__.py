"""`python -m bench`: run the benchmark (in the project's .venv when this interpreter lacks it)."""

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _needs_venv() -> bool:
    return any(importlib.util.find_spec(name) is None
               for name in ("asyncpg", "uvicorn", "entrypoints", "domain"))


if __name__ == "__main__":
    venv_python = ROOT / ".venv" / "bin" / "python"
    if _needs_venv() and venv_python.exists() and Path(sys.executable) != venv_python:
        os.execv(venv_python, [str(venv_python), "-m", "bench", *sys.argv[1:]])
    os.chdir(ROOT)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from bench.runner import main

    sys.exit(main())
