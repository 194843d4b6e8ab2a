"""Where the process reads its `.env` from.

`ENV_FILE` names the file (default: `.env` at the project root); an empty `ENV_FILE` reads
none. Real environment variables always win over the file. Processes that must not pick up
a developer's file — the deployment tests' production processes, a container image — set
`ENV_FILE=` rather than patching the reader.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent


def env_file() -> Path | None:
    name = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
    return Path(name) if name else None


def read_env_file() -> None:
    path = env_file()
    if path is not None:
        environ.Env.read_env(path, overwrite=False)
