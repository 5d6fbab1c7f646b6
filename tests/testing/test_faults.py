"""The fault switchboard: deterministic and seeded-probabilistic faults, counted."""

from __future__ import annotations

import pytest

from cfemu._faults import Faults, InjectedCrashError
from cfemu.errors import D1Error, InferenceUpstreamError, QueueSendError


def test_next_n_sends_fail_with_cloudflares_wording_then_pass() -> None:
    faults = Faults()
    faults.queue_send("jobs", times=2)
    for _ in range(2):
        with pytest.raises(QueueSendError, match=r"^Queue send failed: Too Many Requests$"):
            faults.check("queue.send", "jobs")
    faults.check("queue.send", "jobs")  # third call passes
    assert faults.counts[("queue.send", "jobs")] == 2
    assert not faults.rules  # exhausted rules are removed


def test_faults_only_hit_their_target() -> None:
    faults = Faults()
    faults.queue_send("jobs", error="Storage Limit Exceeded")
    faults.check("queue.send", "other")
    with pytest.raises(QueueSendError) as info:
        faults.check("queue.send", "jobs")
    assert info.value.status == 507
    assert str(info.value) == "Queue send failed: Storage Limit Exceeded"


def test_skip_lets_calls_through_first() -> None:
    faults = Faults()
    faults.d1_statement("DB", skip=2)
    faults.check("d1.statement", "DB")
    faults.check("d1.statement", "DB")
    with pytest.raises(D1Error, match=r"^D1_ERROR: Network connection lost\.$"):
        faults.check("d1.statement", "DB")


def _fires(seed: int, rate: float, n: int) -> list[bool]:
    faults = Faults(seed=seed)
    faults.ai_run(times=None, rate=rate)
    out = []
    for _ in range(n):
        try:
            faults.check("ai.run", "@cf/any")
            out.append(False)
        except InferenceUpstreamError:
            out.append(True)
    return out


def test_probabilistic_faults_are_seeded_and_near_their_rate() -> None:
    a = _fires(7, 0.2, 2000)
    assert a == _fires(7, 0.2, 2000)
    assert a != _fires(8, 0.2, 2000)
    assert 300 < sum(a) < 500


def test_consumer_crash_is_taken_once_per_invocation() -> None:
    faults = Faults()
    faults.consumer_crash("jobs", after=2, times=1)
    taken = faults.take_consumer_crash("jobs")
    assert taken is not None
    k, make_error = taken
    assert k == 2 and isinstance(make_error(), InjectedCrashError)
    assert faults.take_consumer_crash("jobs") is None
    assert faults.total() == 1
