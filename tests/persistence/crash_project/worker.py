"""Records every delivery (``env.RECORD``) before deciding; ``fail`` bodies always fail."""

from workers import WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def queue(self, batch, env=None, ctx=None):
        dead = batch.queue == "jobs-dlq"
        for index, msg in enumerate(batch.messages):
            self.env.RECORD("d" if dead else "h", msg.body["n"], msg.id, msg.attempts, index)
            await self.env.WORK()
            if msg.body["fail"] and not dead:
                msg.retry()
            else:
                msg.ack()
