"""A uvicorn server in the test's own event loop that tells when it is listening."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn


class ListeningServer(uvicorn.Server):
    """uvicorn, with ``ready`` set once its sockets listen (``servers[0]`` has the port)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.ready.set()
