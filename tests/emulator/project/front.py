"""Front Worker: records a job in D1 and sends it to the queue."""

from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if request.method == "POST":
            body = await request.json()
            row = (
                await self.env.DB.prepare(
                    "INSERT INTO jobs (payload, status) VALUES (?, 'pending') RETURNING id"
                )
                .bind(body["payload"])
                .first()
            )
            await self.env.JOBS.send({"id": row["id"], "payload": body["payload"]})
            return Response.json({"id": row["id"]}, status=202)
        job_id = int(request.url.rsplit("/", 1)[-1])
        row = await self.env.DB.prepare("SELECT * FROM jobs WHERE id = ?").bind(job_id).first()
        if row is None:
            return Response("not found", status=404)
        return Response.json(dict(row))
