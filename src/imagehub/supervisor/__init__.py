"""`python -m imagehub.supervisor OPTIONS_JSON`: uvicorn's supervisor for several hub workers.

`imagehub serve` checks the configuration, migrates the database and reports what the hub can
hold, which imports most of the hub (SQLAlchemy, alembic, pydantic, aiohttp: ~80 MB resident).
With one worker that process goes on to serve. With several it only spawns and watches the
workers, each of which imports the app itself, so it replaces itself with this module by exec:
same PID (signals from a process manager reach it), same environment and open-file limit, and
only uvicorn imported (~25 MB).
"""

from __future__ import annotations

import json

#: What each worker serves (an app factory that reads its settings from the environment).
APP = "imagehub.app:create_app_from_env"


def supervise(options_json: str) -> None:
    """Run uvicorn's supervisor with `imagehub serve`'s options (JSON: what uvicorn.run takes)."""
    import uvicorn

    uvicorn.run(APP, factory=True, **json.loads(options_json))
