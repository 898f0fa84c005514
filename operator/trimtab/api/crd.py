"""Generate CustomResourceDefinitions from the pydantic models.

A pydantic JSON schema is not a Kubernetes structural schema, so it is rewritten here: every
`$ref` is inlined, `Optional` loses its `null` branch (the field is simply omitted),
titles go, `exclusiveMinimum` becomes the OpenAPI 3.0 boolean form, and `additionalProperties:
false` is dropped (the apiserver prunes unknown fields instead). Anything the rewrite does not
understand raises, so a new kind of field cannot slip into a CRD the apiserver would refuse.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from trimtab.api.registry import KindInfo

Schema = dict[str, Any]

_DROPPED_KEYS = {"title", "$defs"}


class SchemaError(ValueError):
    """The model uses a construct the CRD schema cannot express."""


def structural_schema(model_schema: Schema) -> Schema:
    """Rewrite a pydantic JSON schema (with `$defs`) into a structural OpenAPI v3 schema."""
    defs = model_schema.get("$defs", {})
    return _rewrite(model_schema, defs, path="")


def _rewrite(node: Schema, defs: dict[str, Schema], path: str) -> Schema:
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").split("/")[-1]]
        node = {**target, **node}
    if "allOf" in node and len(node["allOf"]) == 1:
        node = {**node.pop("allOf")[0], **node}
        return _rewrite(node, defs, path)
    if "anyOf" in node and not node.get("x-kubernetes-int-or-string"):
        node = _without_null_branch(node, path)
        return _rewrite(node, defs, path)
    if "$ref" in node:
        return _rewrite(node, defs, path)
    if ("anyOf" in node or "oneOf" in node) and not node.get("x-kubernetes-int-or-string"):
        raise SchemaError(f"{path or '<root>'}: anyOf/oneOf is not supported in CRDs")
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "default" and value is None:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out["properties"] = {
                name: _rewrite(child, defs, f"{path}.{name}") for name, child in value.items()
            }
        elif key == "description":
            out["description"] = " ".join(str(value).split())
        elif key == "items":
            out["items"] = _rewrite(value, defs, f"{path}[]")
        elif key == "additionalProperties":
            if isinstance(value, dict):
                out["additionalProperties"] = _rewrite(value, defs, f"{path}{{}}")
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            out[key] = True
        else:
            out[key] = copy.deepcopy(value)
    if (
        out.get("type") == "object"
        and "properties" not in out
        and "additionalProperties" not in out
    ):
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def _without_null_branch(node: Schema, path: str) -> Schema:
    branches = [b for b in node["anyOf"] if b.get("type") != "null"]
    if len(branches) != 1:
        raise SchemaError(
            f"{path or '<root>'}: a field may be one type or that type or null, not a union of "
            f"{len(branches)} types"
        )
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    return {**branches[0], **rest}


def crd_for(info: KindInfo) -> Schema:
    """The CustomResourceDefinition of one kind."""
    spec = structural_schema(info.spec_model.model_json_schema(by_alias=True))
    status = structural_schema(info.status_model.model_json_schema(by_alias=True))
    spec["description"] = f"Desired state of the {info.kind}."
    status["description"] = f"Observed state of the {info.kind}, written by the operator."
    version: Schema = {
        "name": info.version,
        "served": True,
        "storage": True,
        "subresources": {"status": {}},
        "additionalPrinterColumns": [_column(column) for column in info.columns],
        "schema": {
            "openAPIV3Schema": {
                "type": "object",
                "description": info.description,
                "required": ["spec"],
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"type": "object"},
                    "spec": spec,
                    "status": status,
                },
            }
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": info.crd_name,
            "labels": {"app.kubernetes.io/part-of": "trimtab"},
        },
        "spec": {
            "group": info.group,
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": list(info.short_names),
                "categories": ["trimtab"],
            },
            "scope": "Namespaced" if info.namespaced else "Cluster",
            "versions": [version],
        },
    }


def _column(column: Any) -> Schema:
    entry: Schema = {"name": column.name, "type": column.type, "jsonPath": column.json_path}
    if column.description:
        entry["description"] = column.description
    if column.priority:
        entry["priority"] = column.priority
    return entry


def render_crd(info: KindInfo) -> str:
    """The CRD as the YAML text written to `crds/`."""
    header = "# Generated by `trimtab crds` from the pydantic models; do not edit by hand.\n"
    body = yaml.safe_dump(crd_for(info), sort_keys=False, width=100, allow_unicode=True)
    return header + body


def crd_filename(info: KindInfo) -> str:
    """The file name of a kind's CRD in `crds/`."""
    return f"{info.crd_name}.yaml"
