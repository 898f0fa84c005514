"""What a VerticalScaler's checkpoint holds, independent of where it is stored."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Checkpoint:
    """The strategy that made the state, the time of the last folded sample, and per
    container the state's bytes (see ``UsageState.to_bytes``)."""

    strategy: str
    last_sample: float
    containers: dict[str, bytes]
