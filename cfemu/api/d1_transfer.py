"""D1 ``export`` and ``import`` over the Cloudflare API (spec: rest-api.md §2.4).

Cloudflare's flow: an export is polled until ``complete``, then its SQL is downloaded from a
signed URL; an import asks for an upload URL (``init``), PUTs the file there (the answer's
``ETag`` is its MD5), asks D1 to ``ingest`` it and polls. cfemu finishes each step at once,
so the first poll already says ``complete``. The signed URLs are cfemu's own
(``/client/v4/_transfers/<token>``): unguessable tokens that need no API token, like
Cloudflare's signed URLs, kept in memory for one hour.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Final

from cfemu.api._http import ApiError, ApiRequest, ApiResponse, Router, ok
from cfemu.d1._sql import split_statements
from cfemu.d1.database import D1Database
from cfemu.d1.service import D1Service, DatabaseInfo
from cfemu.errors import CfemuError, D1Error

__all__ = ["TRANSFER_PATH", "Transfers", "add_routes"]

#: Where signed URLs point, under ``/client/v4``.
TRANSFER_PATH: Final = "/_transfers"
_LIFETIME_SECONDS: Final = 3600.0


@dataclass
class Transfers:
    """Exported files waiting for download and import uploads waiting for ingestion."""

    files: dict[str, tuple[float, bytes | None]] = field(default_factory=dict)

    def new(self, content: bytes | None) -> str:
        """A fresh token (for a file to download, or ``None``: a place to upload to)."""
        self._expire()
        token = secrets.token_urlsafe(24)
        self.files[token] = (time.monotonic() + _LIFETIME_SECONDS, content)
        return token

    def _expire(self) -> None:
        now = time.monotonic()
        for token in [t for t, (until, _) in self.files.items() if until < now]:
            del self.files[token]


def _base(request: ApiRequest) -> str:
    host = request.headers.get("host", "localhost")
    return f"http://{host}/client/v4{TRANSFER_PATH}"


async def _bookmark(db: D1Database) -> str:
    session = db.withSession("first-primary")
    await session.prepare("SELECT 1").first()
    return session.getBookmark() or ""


def add_routes(router: Router, service: D1Service, transfers: Transfers, find: Any) -> None:
    """Route ``export``, ``import`` and the signed transfer URLs."""

    async def export(request: ApiRequest) -> ApiResponse:
        from cfemu.d1.export import export_sql

        info: DatabaseInfo = find(request)
        db = service.open(info)
        body = request.json_object()
        options = body.get("dump_options") or {}
        try:
            statements = list(
                export_sql(
                    db,
                    schema=not options.get("no_schema", False),
                    data=not options.get("no_data", False),
                    tables=list(options.get("tables") or ()),
                )
            )
        except CfemuError as exc:
            return ok({"success": False, "type": "export", "status": "error", "error": str(exc)})
        sql = "".join(f"{s}\n" for s in statements).encode()
        token = transfers.new(sql)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        return ok(
            {
                "success": True,
                "type": "export",
                "at_bookmark": await _bookmark(db),
                "status": "complete",
                "messages": [f"Exported {len(statements)} statements"],
                "result": {
                    "filename": f"{info.name}-{stamp}.sql",
                    "signed_url": f"{_base(request)}/{token}",
                },
            }
        )

    async def import_(request: ApiRequest) -> ApiResponse:
        info: DatabaseInfo = find(request)
        db = service.open(info)
        body = request.json_object()
        action = body.get("action")
        if action == "init":
            etag = body.get("etag")
            if not isinstance(etag, str) or not etag:
                raise ApiError(400, 10001, "etag: the MD5 of the file is required")
            token = transfers.new(None)
            return ok(
                {
                    "success": True,
                    "type": "import",
                    "upload_url": f"{_base(request)}/{token}",
                    "filename": token,
                }
            )
        if action == "ingest":
            name = str(body.get("filename"))
            entry = transfers.files.get(name)
            if entry is None or entry[1] is None:
                raise ApiError(400, 10001, "filename: nothing was uploaded under this name")
            content = entry[1]
            if hashlib.md5(content).hexdigest() != body.get("etag"):  # D1's etag is the MD5
                raise ApiError(400, 10001, "etag: does not match the uploaded file")
            del transfers.files[name]
            return ok(await _ingest(db, content))
        if action == "poll":
            return ok(
                {
                    "success": True,
                    "type": "import",
                    "status": "complete",
                    "at_bookmark": await _bookmark(db),
                    "messages": [],
                }
            )
        raise ApiError(400, 10001, "action: must be init, ingest or poll")

    async def download(request: ApiRequest) -> ApiResponse:
        entry = transfers.files.get(request.params["token"])
        if entry is None or entry[1] is None:
            raise ApiError(404, 10006, "The signed URL has expired or does not exist")
        return ApiResponse(200, entry[1], {"content-type": "application/sql"}, raw=True)

    async def upload(request: ApiRequest) -> ApiResponse:
        token = request.params["token"]
        entry = transfers.files.get(token)
        if entry is None:
            raise ApiError(404, 10006, "The signed URL has expired or does not exist")
        transfers.files[token] = (entry[0], request.body)
        etag = hashlib.md5(request.body).hexdigest()
        return ApiResponse(200, b"", {"etag": etag}, raw=True)

    base = "/accounts/{account_id}/d1/database/{database_id}"
    router.add("POST", base + "/export", export)
    router.add("POST", base + "/import", import_)
    router.add("GET", TRANSFER_PATH + "/{token}", download)
    router.add("PUT", TRANSFER_PATH + "/{token}", upload)


async def _ingest(db: D1Database, content: bytes) -> dict[str, Any]:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return {"success": False, "type": "import", "status": "error", "error": "not UTF-8 SQL"}
    statements = split_statements(text)
    if not statements:
        return {"success": False, "type": "import", "status": "error", "error": "no statements"}
    try:
        results = await db.batch([db.prepare(s) for s in statements])
    except D1Error as exc:
        return {"success": False, "type": "import", "status": "error", "error": str(exc)}
    bookmark = await _bookmark(db)
    meta = dict(results[-1]["meta"])
    meta["rows_written"] = sum(int(r["meta"]["rows_written"]) for r in results)
    meta["rows_read"] = sum(int(r["meta"]["rows_read"]) for r in results)
    meta["changes"] = sum(int(r["meta"]["changes"]) for r in results)
    return {
        "success": True,
        "type": "import",
        "status": "complete",
        "at_bookmark": bookmark,
        "messages": [f"Imported {len(statements)} statements"],
        "result": {"final_bookmark": bookmark, "num_queries": len(statements), "meta": meta},
    }
