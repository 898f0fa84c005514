"""Find the RecommenderProfile a VerticalScaler names, or say why it cannot be used."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trimtab.api import kind_info
from trimtab.api.profile import RecommenderProfileSpec
from trimtab.validation import validate_spec

DEFAULT_PROFILE = "default"


def resolve_profile(
    name: str, profiles: Mapping[str, Mapping[str, Any] | None]
) -> tuple[RecommenderProfileSpec | None, str]:
    """The profile's spec and "", or None and a message naming the field.

    ``default`` needs no object: without one, VPA's defaults apply.
    """
    body = profiles.get(name)
    if body is None:
        if name == DEFAULT_PROFILE:
            return RecommenderProfileSpec(), ""
        return None, f"spec.profile: RecommenderProfile {name!r} does not exist"
    verdict = validate_spec(kind_info("RecommenderProfile"), body)
    if not isinstance(verdict.spec, RecommenderProfileSpec):
        return None, f"spec.profile: RecommenderProfile {name!r} is invalid: {verdict.message}"
    return verdict.spec, ""
