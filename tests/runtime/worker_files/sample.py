"""A Python Worker written for Cloudflare's runtime; cfemu's runtime tests run it unchanged."""

from urllib.parse import urlsplit

from workers import Response, WorkerEntrypoint


async def _record(seen, item):
    seen.append(item)


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = urlsplit(request.url).path
        if path == "/hello":
            return Response("Hello from a Python Worker")
        if path == "/json":
            return Response.json({"greeting": self.env.GREETING, "method": request.method})
        if path == "/echo":
            body = await request.bytes()
            ctype = request.headers.get("content-type", "application/octet-stream")
            return Response(body, headers={"content-type": ctype, "x-length": str(len(body))})
        if path == "/form":
            form = await request.form_data()
            return Response.json({k: v if isinstance(v, str) else v.name for k, v in form.items()})
        if path == "/wait":
            self.ctx.waitUntil(_record(self.env.SEEN, "after response"))
            return Response("accepted", status=202)
        if path == "/lazy":
            import workers  # resolved while the Worker handles the event

            return workers.Response(f"lazy {workers.env.GREETING}")
        if path == "/boom":
            raise RuntimeError("kaboom")
        return Response("not found", status=404)

    async def queue(self, batch, env=None, ctx=None):
        for message in batch.messages:
            self.env.SEEN.append(("queue", message.body, env, ctx))
            message.ack()

    async def scheduled(self, controller, env, ctx):
        self.env.SEEN.append(("scheduled", controller.cron, controller.scheduledTime))
