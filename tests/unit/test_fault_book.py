"""The fault book without a server: which calls and tasks meet a fault, how often, for whom."""

from __future__ import annotations

import random

from openclb.domain.faults import Fault, FaultBook, FaultKind, TargetKey

ACCOUNT, OTHER = 1250000000, 1250000001


def book_with(*faults: Fault) -> FaultBook:
    book = FaultBook()
    for fault in faults:
        book.add(fault)
    return book


def test_begin_call_api_error_count_two_fires_twice_for_its_action_only():
    book = book_with(Fault("f1", ACCOUNT, FaultKind.API_ERROR, action="CreateListener", code="InternalError", count=2))

    errors = [book.begin_call(ACCOUNT, action, f"r{i}").error
              for i, action in enumerate(["DescribeListeners", "CreateListener", "CreateListener", "CreateListener"])]

    assert errors == [None, ("InternalError", ""), ("InternalError", ""), None]


def test_begin_call_other_account_meets_no_fault():
    book = book_with(Fault("f1", ACCOUNT, FaultKind.API_ERROR, code="InternalError"))

    assert book.begin_call(OTHER, "DescribeQuota", "r1").error is None
    assert book.begin_call(ACCOUNT, "DescribeQuota", "r2").error == ("InternalError", "")


def test_begin_call_probability_with_seed_follows_the_seeded_draws():
    book = book_with(Fault("f1", ACCOUNT, FaultKind.API_ERROR, code="InternalError", probability=0.25, seed=9))
    draws = random.Random(9)

    fired = [book.begin_call(ACCOUNT, "DescribeQuota", f"r{i}").error is not None for i in range(50)]

    assert fired == [draws.random() < 0.25 for _ in range(50)]


def test_begin_call_latencies_add_up_and_first_error_wins():
    book = book_with(
        Fault("f1", ACCOUNT, FaultKind.API_LATENCY, seconds=0.5),
        Fault("f2", ACCOUNT, FaultKind.API_LATENCY, seconds=0.25, action="DescribeQuota"),
        Fault("f3", ACCOUNT, FaultKind.API_ERROR, code="RequestLimitExceeded"),
        Fault("f4", ACCOUNT, FaultKind.API_ERROR, code="InternalError", count=1),
    )

    effects = book.begin_call(ACCOUNT, "DescribeQuota", "r1")

    assert effects.latency == 0.75 and effects.error == ("RequestLimitExceeded", "")
    assert [f.hits for f in book.faults(ACCOUNT)] == [1, 1, 1, 0]


def test_task_fault_only_for_a_call_in_progress_of_its_action():
    book = book_with(Fault("f1", ACCOUNT, FaultKind.TASK_FAILURE, action="CreateListener", seconds=1.0, count=1))

    book.begin_call(ACCOUNT, "CreateListener", "r1")
    first = book.task_fault("r1")
    book.end_call("r1")
    book.begin_call(ACCOUNT, "CreateListener", "r2")
    second = book.task_fault("r2")
    unknown = book.task_fault("resumed-at-start")

    assert first is not None and (first.hold, first.fail_message) == (1.0, "The task failed (injected fault).")
    assert second is None and unknown is None


def test_task_fault_delay_holds_without_failing():
    book = book_with(Fault("f1", ACCOUNT, FaultKind.TASK_DELAY, seconds=2.0))

    book.begin_call(ACCOUNT, "RegisterTargets", "r1")
    fault = book.task_fault("r1")

    assert (fault.hold, fault.fail_message) == (2.0, None)


def test_begin_call_api_error_fired_call_has_no_task_fault():
    book = book_with(Fault("f1", ACCOUNT, FaultKind.API_ERROR, code="InternalError", count=1),
                     Fault("f2", ACCOUNT, FaultKind.TASK_FAILURE))

    book.begin_call(ACCOUNT, "CreateListener", "r1")

    assert book.task_fault("r1") is None
    assert [f.hits for f in book.faults(ACCOUNT)] == [1, 0]


def test_clear_account_or_named_faults_and_unhealthy_targets_follow():
    target = TargetKey("lb-1", "lbl-1", "lbl-1", "127.0.0.1", 80)
    book = book_with(Fault("f1", ACCOUNT, FaultKind.TARGET_UNHEALTHY, target=target),
                     Fault("f2", ACCOUNT, FaultKind.API_LATENCY, seconds=1.0),
                     Fault("f3", OTHER, FaultKind.API_LATENCY, seconds=1.0))

    assert book.unhealthy_targets("lb-1") == {target}
    assert [f.fault_id for f in book.clear(ACCOUNT, ["f1"])] == ["f1"]
    assert book.unhealthy_targets("lb-1") == frozenset()
    assert [f.fault_id for f in book.clear(None)] == ["f2", "f3"]
