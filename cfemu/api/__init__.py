"""Cloudflare's REST API (``/client/v4``), served from an emulator's own bindings.

``api_app(emulator)`` is an ASGI application: ``cfemu dev`` serves it at ``/client/v4`` on
the Worker's port, and tests mount it in process (``httpx.ASGITransport``), so code written
against ``api.cloudflare.com`` - the official ``cloudflare`` SDK included - works against the
emulator by changing only its base URL. See ``docs/rest-api.md``.
"""

from __future__ import annotations

from cfemu.api.app import API_PREFIX, ApiApp, api_app, with_api

__all__ = ["API_PREFIX", "ApiApp", "api_app", "with_api"]
