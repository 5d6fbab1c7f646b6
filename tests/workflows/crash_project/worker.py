"""A chain of steps that record ``start``/``end`` (``env.RECORD``) around a little real work
(``env.WORK``); every fourth step fails its first attempt; a short sleep half-way."""

# ruff: noqa: B023 (each step closes over the loop's `i` and is awaited in that iteration)

from workers import WorkflowEntrypoint

STEPS = 12


class Chain(WorkflowEntrypoint):
    async def run(self, event, step):
        me = event["instanceId"]
        results = []
        for i in range(STEPS):
            if i == STEPS // 2:
                await step.sleep("half-way", 5)

            @step.do(f"s{i}", config={"retries": {"limit": 3, "delay": 2, "backoff": "constant"}})
            async def work(ctx):
                self.env.RECORD("start", me, i, ctx["attempt"])
                await self.env.WORK()
                if i % 4 == 3 and ctx["attempt"] == 1:
                    raise RuntimeError("first attempts of every fourth step fail")
                self.env.RECORD("end", me, i, ctx["attempt"])
                return {"i": i, "run": self.env.RUN}

            results.append(await work())
        return results
