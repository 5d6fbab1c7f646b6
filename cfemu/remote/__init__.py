"""Remote bindings: ``remote = true`` bindings that call Cloudflare's REST API.

A Worker runs locally while a binding marked ``remote = true`` in its config (a D1 database,
a queue producer, ``[ai]``) talks to Cloudflare over the REST API v4, authenticated with
``CLOUDFLARE_API_TOKEN`` for ``CLOUDFLARE_ACCOUNT_ID`` (``CLOUDFLARE_API_BASE_URL`` moves
the API, e.g. to another cfemu). wrangler instead uploads a preview Worker holding the real
bindings and proxies to it; going through the REST API is cfemu's design, which needs no
upload (see docs/rest-api.md). Writes reach real data and are billed.
"""

from __future__ import annotations

from cfemu.remote.client import RemoteApi, remote_api_from_env
from cfemu.remote.d1 import RemoteD1Database, RemoteD1PreparedStatement
from cfemu.remote.queues import RemoteQueueProducer

__all__ = [
    "RemoteApi",
    "RemoteD1Database",
    "RemoteD1PreparedStatement",
    "RemoteQueueProducer",
    "remote_api_from_env",
]
