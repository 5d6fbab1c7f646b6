"""Back Worker: consumes jobs; payload 'fail' always fails, so it reaches the DLQ."""

from workers import WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def queue(self, batch, env=None, ctx=None):
        for msg in batch.messages:
            if batch.queue == "jobs-dlq":
                await (
                    self.env.DB.prepare(
                        "UPDATE jobs SET status = 'dead', attempts = ? WHERE id = ?"
                    )
                    .bind(msg.attempts, msg.body["id"])
                    .run()
                )
                msg.ack()
                continue
            await (
                self.env.DB.prepare("UPDATE jobs SET attempts = ? WHERE id = ?")
                .bind(msg.attempts, msg.body["id"])
                .run()
            )
            if msg.body["payload"] == "fail":
                msg.retry(delaySeconds=self.env.RETRY_DELAY)
                continue
            await (
                self.env.DB.prepare("UPDATE jobs SET status = 'done' WHERE id = ?")
                .bind(msg.body["id"])
                .run()
            )
            msg.ack()
