"""Building blocks shared by every Trimtab custom resource model.

The models are the single source of truth for the API: the CRD YAML in `crds/` is generated
from them and the handlers validate objects with them, so a field's type, bounds and
description are written once, here or in the kind's own module.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from trimtab.durations import DURATION_PATTERN, parse_duration
from trimtab.quantity import parse_quantity

GROUP = "trimtab.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

QUANTITY_MAX_LENGTH = 64
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


class ApiModel(BaseModel):
    """Base of every API model: camelCase on the wire, docstrings as field descriptions.

    Unknown fields are refused so that a typo in a spec becomes an Invalid condition naming the
    field instead of a setting silently ignored.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_default=True,
    )


def _quantity_text(value: Any) -> str:
    """Accept what Kubernetes accepts for a quantity (a string or a whole number)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{value!r} is not a quantity: write it as a string like '250m' or '1Gi'")
    text = str(value)
    if len(text) > QUANTITY_MAX_LENGTH:
        raise ValueError(f"{text[:20]!r}... is longer than {QUANTITY_MAX_LENGTH} characters")
    parse_quantity(text)
    return text


Quantity = Annotated[
    str,
    BeforeValidator(_quantity_text),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            # Bounds the cost the apiserver estimates for CEL rules that parse quantities.
            "maxLength": QUANTITY_MAX_LENGTH,
            "x-kubernetes-int-or-string": True,
        }
    ),
]
"""A Kubernetes quantity such as `250m`, `1.5` or `512Mi`, kept as written."""


def _duration_text(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[
    str,
    AfterValidator(_duration_text),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN}),
]
"""A duration such as `90s`, `15m`, `24h` or `8d`."""

Percentage = Annotated[str, Field(pattern=r"^(100|[1-9]?[0-9])%$")]
"""A whole percentage from `0%` to `100%`."""

ResourceList = dict[str, Quantity]
"""Resource name to quantity, e.g. `{"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"}`."""


class CpuMemory(ApiModel):
    """A CPU and memory amount; either may be left out."""

    cpu: Quantity | None = None
    """CPU in cores or millicores, e.g. `250m`."""
    memory: Quantity | None = None
    """Memory in bytes with an optional suffix, e.g. `512Mi`."""


class TargetRef(ApiModel):
    """The workload an object acts on, in the same namespace."""

    api_version: str = Field(default="apps/v1", min_length=1)
    """API version of the target, e.g. `apps/v1`."""
    kind: str = Field(min_length=1)
    """Kind of the target: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, or any
    kind with a scale subresource and a pod template."""
    name: str = Field(min_length=1, max_length=253)
    """Name of the target."""


class ObjectReference(ApiModel):
    """A reference to a cluster-scoped object of a given group and kind."""

    group: str = Field(default=GROUP, min_length=1)
    """API group of the referenced object."""
    kind: str = Field(min_length=1)
    """Kind of the referenced object."""
    name: str = Field(min_length=1, max_length=253)
    """Name of the referenced object."""


class Condition(ApiModel):
    """One aspect of an object's state, as Kubernetes conditions are written."""

    model_config = ConfigDict(extra="ignore")

    type: str
    """The aspect, e.g. `Ready`."""
    status: Literal["True", "False", "Unknown"]
    """Whether it holds."""
    reason: str | None = None
    """A CamelCase word for machines."""
    message: str | None = None
    """A sentence for people."""
    last_transition_time: str | None = None
    """When the status last changed (RFC 3339)."""
    observed_generation: int | None = None
    """The generation the condition was computed from."""


class StatusBase(ApiModel):
    """What every Trimtab status has: the generation seen and the conditions."""

    model_config = ConfigDict(extra="ignore")

    observed_generation: int | None = None
    """The `metadata.generation` the operator last acted on."""
    conditions: list[Condition] = Field(default_factory=list)
    """Current conditions; `Ready` sums them up."""


def cel_rule(rule: str, message: str, field_path: str | None = None) -> dict[str, str]:
    """One CEL validation rule for the CRD (`x-kubernetes-validations`)."""
    entry = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


def cel_rules(*rules: dict[str, str]) -> dict[str, Any]:
    """`json_schema_extra` for a model carrying CEL rules."""
    return {"x-kubernetes-validations": list(rules)}


def _duration_or_never(value: str) -> str:
    return value if value == "Never" else _duration_text(value)


DurationOrNever = Annotated[
    str,
    AfterValidator(_duration_or_never),
    WithJsonSchema({"type": "string", "pattern": f"^Never$|{DURATION_PATTERN}"}),
]
"""A duration, or `Never`."""
