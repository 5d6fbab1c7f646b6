"""cfemu's static assets: ``[assets]`` served before the Worker, and ``env.ASSETS``.

Cloudflare's pipeline (``_redirects``, ``html_handling``, ``not_found_handling``, ETags and
304s, ``_headers``) over a local folder. See ``docs/assets.md``.
"""

from __future__ import annotations

from cfemu.assets.handler import AssetHandler
from cfemu.assets.manifest import Manifest, content_type_of
from cfemu.assets.service import AssetsBinding, AssetsService

__all__ = ["AssetHandler", "AssetsBinding", "AssetsService", "Manifest", "content_type_of"]
