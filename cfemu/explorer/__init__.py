"""The Local Explorer: a browser UI and JSON API for queues, D1, KV, Durable Objects and
Workflows, served by ``cfemu dev``.

At Cloudflare's path ``/cdn-cgi/local/explorer`` (and the older ``/cdn-cgi/explorer``), with
the JSON API under ``<prefix>/api`` (spec: rest-api.md §7). See ``docs/explorer.md``.
"""

from cfemu.explorer.app import EXPLORER_PREFIXES, ExplorerApp, explorer_app, with_explorer

__all__ = ["EXPLORER_PREFIXES", "ExplorerApp", "explorer_app", "with_explorer"]
