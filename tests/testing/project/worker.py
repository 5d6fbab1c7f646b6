"""A small shop Worker: HTTP in, jobs through a queue into D1, a DLQ, a cron, Workers AI."""

from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = request.url.split("/", 3)[-1]
        self.ctx.waitUntil(self.log(f"{request.method} /{path}"))
        if request.method == "POST" and path == "jobs":
            job = (await request.json())["job"]
            try:
                await self.env.JOBS.send({"job": job})
            except Exception as exc:  # e.g. "Queue send failed: Too Many Requests"
                return Response(f"busy: {exc}", status=503)
            return Response("queued", status=202)
        if path == "summary":
            try:
                answer = await self.env.AI.run("@cf/meta/llama-3.1-8b-instruct", {"prompt": "hi"})
            except Exception as exc:
                return Response(f"ai failed: {exc}", status=502)
            return Response.json({"summary": answer["response"]})
        rows = await self.env.DB.prepare("SELECT job FROM done ORDER BY job").all()
        return Response.json([row["job"] for row in rows["results"]])

    async def queue(self, batch, env=None, ctx=None):
        for msg in batch.messages:
            job = msg.body["job"]
            if batch.queue == "jobs-dlq":
                await (
                    self.env.DB.prepare("INSERT OR IGNORE INTO dead VALUES (?, ?)")
                    .bind(job, msg.attempts)
                    .run()
                )
                msg.ack()
                continue
            if job.startswith("poison"):
                msg.retry()
                continue
            try:
                await (
                    self.env.DB.prepare("INSERT OR IGNORE INTO done VALUES (?, ?, ?)")
                    .bind(job, msg.attempts, int(msg.timestamp.timestamp() * 1000))
                    .run()
                )
            except Exception:  # a transient D1 error: try again later
                msg.retry(delaySeconds=self.env.RETRY_DELAY)
                continue
            msg.ack()

    async def scheduled(self, controller, env=None, ctx=None):
        await (
            self.env.DB.prepare("INSERT INTO ticks VALUES (?, ?)")
            .bind(controller.cron, controller.scheduledTime)
            .run()
        )

    async def log(self, line):
        await self.env.DB.prepare("INSERT INTO log VALUES (?)").bind(line).run()
