"""Usage batches become one trace per workload on a shared grid (pods that come and go are
NaN outside their lives), and a backtest without enough history says so."""

from __future__ import annotations

import numpy as np
import pytest

from trimtab.api.profile import RecommenderProfileSpec
from trimtab.metrics.batch import ContainerKey, DropCounts, Samples, UsageBatch
from trimtab.metrics.promql import Selection
from trimtab.quality.replay import ReplayConfig
from trimtab.recommender.backtest import NotEnoughHistoryError, backtest, traces_of

T0 = 1_700_000_040.0
STEP = 60.0


def _key(pod: str, container: str = "app", workload: str = "web") -> ContainerKey:
    return ContainerKey("shop", "Deployment", workload, container, pod)


def _batch(keys: list[ContainerKey], rows: list[tuple[int, float, float]]) -> UsageBatch:
    index = np.array([r[0] for r in rows], dtype=np.int64)
    stamps = np.array([r[1] for r in rows])
    values = np.array([r[2] for r in rows])
    return UsageBatch(
        keys=tuple(keys),
        cpu=Samples(index, stamps, values),
        memory=Samples(index, stamps, values * 1e9),
        start=T0,
        end=T0 + 10 * STEP,
        step_s=STEP,
        dropped=DropCounts(),
        queries=2,
    )


def test_each_workload_gets_its_pods_and_containers_on_the_grid() -> None:
    keys = [_key("web-b"), _key("web-a"), _key("web-a", "proxy"), _key("db-0", workload="db")]
    batch = _batch(
        keys,
        [(0, T0 + 5 * STEP, 0.5), (1, T0, 0.1), (1, T0 + STEP, 0.2), (2, T0, 0.01), (3, T0, 1.0)],
    )

    db, web = traces_of(batch, T0, T0 + 10 * STEP, STEP)

    assert (db.name, web.name) == ("shop/Deployment/db", "shop/Deployment/web")
    assert web.containers == ("app", "proxy")
    np.testing.assert_array_equal(web.timestamps, T0 + STEP * np.arange(10))
    assert web.cpu.shape == (2, 2, 10)
    assert web.cpu[0, 0, :2].tolist() == [0.1, 0.2]  # web-a comes first
    assert web.cpu[0, 1, 0] == 0.01
    assert web.cpu[1, 0, 5] == 0.5  # web-b, which started later
    assert np.isnan(web.cpu[1, 0, :5]).all() and np.isnan(web.cpu[1, 1]).all()
    assert web.memory[1, 0, 5] == 0.5e9
    assert int(np.isfinite(web.cpu).sum()) == 4
    assert db.cpu.shape == (1, 1, 10) and db.cpu[0, 0, 0] == 1.0


class _Reader:
    step_s = STEP

    def __init__(self, batch: UsageBatch) -> None:
        self.batch = batch

    def read(self, selection: Selection, start: float, end: float) -> UsageBatch:
        return self.batch


def test_a_backtest_without_a_scored_day_after_the_warm_up_says_how_much_there_is() -> None:
    minutes = 36 * 60
    keys = [_key("web-a")]
    batch = _batch(keys, [(0, T0 + STEP * m, 0.2) for m in range(minutes)])

    with pytest.raises(NotEnoughHistoryError, match=r"longest is 36\.0 h.* 24 h of warm-up"):
        backtest(
            _Reader(batch),  # type: ignore[arg-type]
            [Selection("shop")],
            {"vpa": RecommenderProfileSpec()},
            T0,
            T0 + minutes * STEP,
            ReplayConfig(warmup_s=86_400.0),
        )
