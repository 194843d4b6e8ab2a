"""Python imports this at start-up in the deploy tests' subprocesses (it is first on their
PYTHONPATH). The image never holds a .env file (.dockerignore), so a developer's .env, which
may well say SECURE_SSL_REDIRECT=false or DEBUG=true, must not leak into them either."""

from __future__ import annotations

import environ


def _no_dotenv(*args: object, **kwargs: object) -> None:
    return None


environ.Env.read_env = staticmethod(_no_dotenv)
