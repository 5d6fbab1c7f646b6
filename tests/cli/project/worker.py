"""A Worker for the cfemu dev tests: HTTP in, queue through, D1 out."""

from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if request.method == "POST":
            note = await request.text()
            await self.env.NOTES.send(note, contentType="text")
            return Response("queued", status=202)
        rows = await self.env.DB.prepare("SELECT note FROM notes ORDER BY id").all()
        notes = [r.note for r in rows.results]
        return Response.json({"greeting": self.env.GREETING, "notes": notes})

    async def queue(self, batch, env=None, ctx=None):
        for msg in batch.messages:
            await self.env.DB.prepare("INSERT INTO notes (note) VALUES (?)").bind(msg.body).run()

    async def scheduled(self, controller, env=None, ctx=None):
        await (
            self.env.DB.prepare("INSERT INTO notes (note) VALUES (?)")
            .bind(f"cron {controller.cron}")
            .run()
        )
