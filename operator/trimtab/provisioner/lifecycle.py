"""The next step of a NodeClaim's life, decided from what its status and its Node say.

A claim goes Launched (the cloud has an instance for it) -> Registered (a Node with its
provider id exists) -> Initialized (the Node is Ready, labelled, and its startup taints are
gone). Every step is decided again from the objects each time, never from memory, so an
operator restarted at any point picks up where the claim is. A claim that does not launch
within 5 minutes, or whose Node does not register within 15 minutes of the launch, is given
up: the claim and its instance are deleted and the pods go back to the next batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

LAUNCH_TIMEOUT = 300.0
REGISTRATION_TIMEOUT = 900.0


class Step(StrEnum):
    """What the NodeClaim controller does next."""

    LAUNCH = "Launch"
    """Ask the provider for an instance (idempotent: a retry never makes a second one)."""
    AWAIT_RETRY = "AwaitRetry"
    """The provider refused the last launch; wait out the backoff (decided by the controller,
    which keeps the backoff: ``next_step`` never answers it)."""
    AWAIT_NODE = "AwaitNode"
    """Launched; wait for the Node to register."""
    REGISTER = "Register"
    """The Node is there: record its name and mark the claim Registered."""
    INITIALIZE = "Initialize"
    """The Node is Ready: apply the claim's labels and taints, remove the startup taints."""
    AWAIT_READY = "AwaitReady"
    """Registered; wait for the Node to become Ready."""
    DONE = "Done"
    """Initialized: nothing to do."""
    GIVE_UP = "GiveUp"
    """Timed out: delete the claim and its instance."""


@dataclass(frozen=True)
class ClaimState:
    """What the claim's status says."""

    created: float
    launched_at: float | None = None
    provider_id: str | None = None
    registered: bool = False
    initialized: bool = False


@dataclass(frozen=True)
class NodeState:
    """What the claim's Node says, when there is one."""

    name: str
    ready: bool
    startup_taints_left: bool
    labels_missing: bool


def next_step(claim: ClaimState, node: NodeState | None, now: float) -> tuple[Step, str]:
    """The step to take now, and why (for logs, Events and conditions)."""
    if claim.provider_id is None:
        waited = now - claim.created
        if waited >= LAUNCH_TIMEOUT:
            return Step.GIVE_UP, f"not launched within {LAUNCH_TIMEOUT:.0f} s of its creation"
        return Step.LAUNCH, "no instance yet"
    if node is None:
        since = claim.launched_at if claim.launched_at is not None else claim.created
        if now - since >= REGISTRATION_TIMEOUT:
            return (
                Step.GIVE_UP,
                f"its Node did not register within {REGISTRATION_TIMEOUT:.0f} s of the launch",
            )
        return Step.AWAIT_NODE, "launched, waiting for the Node to register"
    if not claim.registered:
        return Step.REGISTER, f"Node {node.name} registered"
    if not node.ready:
        return Step.AWAIT_READY, f"waiting for Node {node.name} to be Ready"
    if node.startup_taints_left or node.labels_missing or not claim.initialized:
        return Step.INITIALIZE, f"Node {node.name} is Ready"
    return Step.DONE, f"Node {node.name} is Ready and initialized"
