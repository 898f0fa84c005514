"""A NodeClaim's next step, from its status and its Node, whatever happened before."""

from __future__ import annotations

import pytest

from trimtab.provisioner.lifecycle import (
    LAUNCH_TIMEOUT,
    REGISTRATION_TIMEOUT,
    ClaimState,
    NodeState,
    Step,
    next_step,
)

NOW = 10_000.0
LAUNCHED = ClaimState(created=NOW - 60, launched_at=NOW - 30, provider_id="simulated://a/n1")
REGISTERED = ClaimState(NOW - 60, NOW - 30, "simulated://a/n1", registered=True)
DONE = ClaimState(NOW - 60, NOW - 30, "simulated://a/n1", registered=True, initialized=True)


def node(ready: bool = True, taints: bool = False, labels: bool = False) -> NodeState:
    return NodeState("n1", ready, taints, labels)


@pytest.mark.parametrize(
    ("claim", "found", "step"),
    [
        pytest.param(ClaimState(created=NOW), None, Step.LAUNCH, id="new"),
        pytest.param(
            ClaimState(created=NOW - LAUNCH_TIMEOUT + 1), None, Step.LAUNCH, id="launch-retried"
        ),
        pytest.param(
            ClaimState(created=NOW - LAUNCH_TIMEOUT), None, Step.GIVE_UP, id="launch-timed-out"
        ),
        pytest.param(LAUNCHED, None, Step.AWAIT_NODE, id="launched"),
        pytest.param(
            ClaimState(NOW - 2000, NOW - REGISTRATION_TIMEOUT, "p"),
            None,
            Step.GIVE_UP,
            id="registration-timed-out",
        ),
        pytest.param(LAUNCHED, node(ready=False), Step.REGISTER, id="node-appeared"),
        pytest.param(REGISTERED, node(ready=False), Step.AWAIT_READY, id="not-ready"),
        pytest.param(REGISTERED, node(taints=True), Step.INITIALIZE, id="ready"),
        pytest.param(DONE, node(taints=True), Step.INITIALIZE, id="startup-taint-back"),
        pytest.param(DONE, node(labels=True), Step.INITIALIZE, id="label-lost"),
        pytest.param(DONE, node(), Step.DONE, id="done"),
    ],
)
def test_next_step(claim: ClaimState, found: NodeState | None, step: Step) -> None:
    assert next_step(claim, found, NOW)[0] is step


def test_give_up_says_which_timeout() -> None:
    _, why = next_step(ClaimState(created=NOW - 2 * LAUNCH_TIMEOUT), None, NOW)
    assert why == "not launched within 300 s of its creation"
