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


def test_rate_alone_means_every_call_may_fail_not_just_the_next() -> None:
    faults = Faults(seed=3)
    faults.queue_send("jobs", rate=0.5)
    outcomes = []
    for _ in range(200):
        try:
            faults.check("queue.send", "jobs")
            outcomes.append(False)
        except QueueSendError:
            outcomes.append(True)
    assert 60 < sum(outcomes) < 140  # probabilistic, not "fail once then pass"


def test_rate_with_times_caps_the_number_of_failures() -> None:
    faults = Faults()
    faults.d1_statement("DB", rate=1.0, times=2)
    for _ in range(2):
        with pytest.raises(D1Error):
            faults.check("d1.statement", "DB")
    faults.check("d1.statement", "DB")
    assert faults.total() == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"times": 0}, "times must be a whole number >= 1"),
        ({"times": -1}, "times must be a whole number >= 1"),
        ({"times": "2"}, "times must be a whole number >= 1"),
        ({"rate": 2}, "rate must be a probability between 0 and 1"),
        ({"rate": True}, "rate must be a probability between 0 and 1"),
        ({"skip": -1}, "skip must be a whole number >= 0"),
    ],
)
def test_bad_arming_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Faults().queue_send("jobs", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="after must be a whole number >= 0"):
        Faults().consumer_crash("jobs", after=-1)


def test_a_misspelt_target_is_refused_when_targets_are_known() -> None:
    faults = Faults()
    faults.known_targets = lambda point: {"jobs"} if point.startswith("queue.") else None
    with pytest.raises(ValueError, match=r"no queue named 'nope' .* known: jobs"):
        faults.queue_send("nope")
    faults.queue_send("jobs")
    faults.ai_run("@cf/anything")  # models are not checked
