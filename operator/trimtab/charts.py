"""The recommendation quality chart: slack against what too little request costs, one colour
per strategy (the benchmark and `trimtab backtest` draw it).

Two panels, because the cost of too small a request differs per resource: CPU slack share
against CPU shortfall (share of minutes with usage above the request), and memory slack share
against OOM events. Large markers are each strategy's total over every trace run; small ones
its total per group of traces (marker shape = group), when given. Down and to the left is
better on both.

matplotlib is imported only here and only when a chart is drawn, with the Agg backend (no
display needed), so tables work without it (`pip install trimtab[charts]`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from trimtab.quality.scores import Scores

COLOURS = {
    "vpa": "#1f77b4",
    "percentile": "#ff7f0e",
    "adaptive": "#2ca02c",
    "hand-set": "#7f7f7f",
}
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "h", "<", ">", "p")
LABEL_OFFSETS = ((20, 22), (20, -26), (-75, 22), (-75, -26))
"""Where each strategy's name goes beside its marker, so that close points stay readable."""


def draw(
    totals: Mapping[str, Scores],
    path: Path,
    title: str,
    groups: Mapping[str, Mapping[str, Scores]] | None = None,
) -> None:
    """Write the chart to ``path`` (PNG): ``totals`` per strategy, and per group and strategy
    ``groups[group][strategy]``."""
    groups = groups or {}
    strategies = list(totals)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    figure, (cpu_axes, memory_axes) = plt.subplots(1, 2, figsize=(13, 5.8))
    for number, strategy in enumerate(strategies):
        colour = COLOURS.get(strategy, "#9467bd")
        for marker, group in zip(MARKERS, groups, strict=False):
            scores = groups[group].get(strategy)
            if scores is None or scores.cpu_minutes == 0:
                continue
            cpu_axes.scatter(
                100 * scores.cpu_slack_share,
                100 * scores.cpu_shortfall_minutes / scores.cpu_minutes,
                color=colour,
                marker=marker,
                s=28,
                alpha=0.55,
            )
            memory_axes.scatter(
                100 * scores.memory_slack_share,
                scores.oom_events,
                color=colour,
                marker=marker,
                s=28,
                alpha=0.55,
            )
        overall = totals[strategy]
        if overall.cpu_minutes == 0:
            continue
        cpu_point = (
            100 * overall.cpu_slack_share,
            100 * overall.cpu_shortfall_minutes / overall.cpu_minutes,
        )
        memory_point = (100 * overall.memory_slack_share, overall.oom_events)
        for axes, (x, y) in ((cpu_axes, cpu_point), (memory_axes, memory_point)):
            axes.scatter(x, y, color=colour, marker="o", s=220, edgecolors="black", zorder=3)
            offset = LABEL_OFFSETS[number % len(LABEL_OFFSETS)]
            axes.annotate(
                strategy,
                (x, y),
                xytext=offset,
                textcoords="offset points",
                color=colour,
                fontweight="bold",
                arrowprops={"arrowstyle": "-", "color": colour, "linewidth": 0.8},
            )
    cpu_axes.set_xlabel("CPU slack: unused share of the CPU request (%)")
    cpu_axes.set_ylabel("CPU shortfall: minutes with usage above the request (%)")
    cpu_axes.set_title("CPU")
    memory_axes.set_xlabel("memory slack: unused share of the memory request (%)")
    memory_axes.set_ylabel("OOM events (memory usage above the limit), symlog")
    memory_axes.set_yscale("symlog", linthresh=1.0)
    memory_axes.set_title("memory")
    for axes in (cpu_axes, memory_axes):
        axes.grid(True, alpha=0.3)
        axes.margins(x=0.05, y=0.15)
        axes.set_xlim(left=0)
        axes.set_ylim(bottom=0)
    handles = [
        Line2D([], [], color=COLOURS.get(s, "#9467bd"), marker="o", markersize=10, linestyle="",
               label=s)
        for s in strategies
    ]  # fmt: skip
    handles += [
        Line2D([], [], color="#444444", marker=m, linestyle="", label=g)
        for m, g in zip(MARKERS, groups, strict=False)
    ]
    figure.legend(handles=handles, loc="lower center", ncol=8, fontsize=8)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.1, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
