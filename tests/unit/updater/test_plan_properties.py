"""Whatever the pods, a plan keeps the disruption budget, the rate limit and the hands-off rules."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.updater.conftest import MI, NOW, container, pod, target
from trimtab.updater.model import ContainerControl, ResizeState, UpdatablePod
from trimtab.updater.plan import UpdaterPolicy, plan_updates
from trimtab.updater.pods import touchable

GI = 1024 * MI
TARGETS = {"app": target(memory=512 * MI, lower={"memory": 400 * MI}, upper={"memory": GI})}
"""128Mi and 256Mi requests are below the bounds, 4Gi above, 512Mi already at the target."""
CONTROLS = {"app": ContainerControl()}

RESIZES = st.sampled_from(
    [
        ResizeState(),
        ResizeState(pending_reason="Deferred", pending_since=NOW - 60),
        ResizeState(pending_reason="Deferred", pending_since=NOW - 3600),
        ResizeState(pending_reason="Infeasible", pending_since=NOW - 60),
        ResizeState(in_progress_since=NOW - 60),
    ]
)


RARELY = st.sampled_from([False, False, False, False, True])
"""Each hands-off flag on one pod in five, so most workloads also have pods to update."""


@st.composite
def pod_states(draw: st.DrawFn, index: int) -> UpdatablePod:
    """One pod in any state the updater may meet."""
    memory = draw(st.sampled_from([128 * MI, 256 * MI, 512 * MI, 4 * GI]))
    phases = ["Running"] * 6 + ["Pending", "Succeeded", "Failed"]
    return pod(
        f"web-{index}",
        containers=(container(requests={"cpu": 0.5, "memory": memory}),),
        phase=draw(st.sampled_from(phases)),
        ready=not draw(RARELY),
        deleting=draw(RARELY),
        controller=None if draw(RARELY) else ("ReplicaSet", "web-5d8f"),
        do_not_disrupt=draw(RARELY),
        mirror=draw(RARELY),
        resize=draw(RESIZES),
    )


@st.composite
def workloads(draw: st.DrawFn) -> list[UpdatablePod]:
    count = draw(st.integers(min_value=0, max_value=20))
    return [draw(pod_states(index)) for index in range(count)]


@settings(max_examples=300, deadline=None)
@given(
    pods=workloads(),
    min_replicas=st.integers(min_value=1, max_value=5),
    tolerance=st.floats(min_value=0.0, max_value=1.0, exclude_min=True),
    rate=st.integers(min_value=0, max_value=10),
    in_place=st.booleans(),
)
def test_plans_keep_every_budget_and_rule(
    pods: list[UpdatablePod], min_replicas: int, tolerance: float, rate: int, in_place: bool
) -> None:
    policy = UpdaterPolicy(min_replicas, tolerance, in_place)
    plan = plan_updates(pods, TARGETS, CONTROLS, policy, NOW, rate)
    planned = [update.pod for update in plan.updates]

    live = [p for p in pods if not p.deleting and p.phase in ("Pending", "Running")]
    ready = [p for p in live if p.ready and p.phase == "Running"]
    already_down = len(live) - len(ready) + sum(p.deleting for p in pods)
    tolerated = max(1, math.floor(len(live) * tolerance))

    if planned:
        # minReplicas as the VPA has it: nothing is updated unless that many pods are ready.
        assert len(ready) >= min_replicas
        assert len(planned) <= tolerated - already_down
        assert plan.blocked is None
    assert len(planned) <= rate
    assert all(touchable(p) is None for p in planned)
    named = [p.name for p in planned] + [name for name, _ in plan.waiting]
    assert len(named) == len(set(named)), "a pod is planned or held back twice"
    assert {p.uid for p in planned} <= {p.uid for p in pods}
