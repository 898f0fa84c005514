"""Pydantic models of Trimtab's custom resources: the one source of the API and its CRDs."""

from trimtab.api.common import API_VERSION, GROUP, VERSION
from trimtab.api.registry import KINDS, KindInfo, kind_info

__all__ = ["API_VERSION", "GROUP", "KINDS", "VERSION", "KindInfo", "kind_info"]
