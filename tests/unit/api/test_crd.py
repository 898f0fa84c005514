"""The generated CRDs are structural schemas and `trimtab crds --check` notices any drift."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from trimtab.api import KINDS, KindInfo
from trimtab.api.crd import SchemaError, crd_for, structural_schema
from trimtab.api.vertical import VerticalScalerSpec
from trimtab.crdfiles import check_crds, write_crds

REPO_CRDS = Path(__file__).parents[3] / "crds"


def _nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("info", KINDS, ids=lambda i: i.kind)
def test_schema_is_structural(info: KindInfo) -> None:
    root = crd_for(info)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _nodes(root):
        assert "$ref" not in node and "$defs" not in node and "title" not in node, path
        assert "oneOf" not in node, path
        if "anyOf" in node:
            assert node.get("x-kubernetes-int-or-string") is True, path
        else:
            assert "type" in node, f"{path} has no type"
        if node.get("type") == "object" and path != ".metadata":  # the apiserver owns metadata
            assert (
                "properties" in node
                or "additionalProperties" in node
                or node.get("x-kubernetes-preserve-unknown-fields")
            ), path
        assert node.get("additionalProperties") is not False, path
        assert node.get("default", 0) is not None, path


@pytest.mark.parametrize("info", KINDS, ids=lambda i: i.kind)
def test_crd_has_status_columns_and_short_names(info: KindInfo) -> None:
    crd = crd_for(info)
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [column["name"] for column in version["additionalPrinterColumns"]]
    assert "Ready" in columns and "Age" in columns
    assert crd["spec"]["names"]["shortNames"]
    assert crd["spec"]["scope"] == ("Namespaced" if info.namespaced else "Cluster")


def _rules(info: KindInfo) -> list[str]:
    root = crd_for(info)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return [
        rule["rule"]
        for _, node in _nodes(root)
        for rule in node.get("x-kubernetes-validations", [])
    ]


def test_min_max_limits_have_cel_rules() -> None:
    rules = {info.kind: " ".join(_rules(info)) for info in KINDS}
    assert "self.minReplicas <= self.maxReplicas" in rules["HorizontalScaler"]
    assert "self.minAllowed.cpu" in rules["VerticalScaler"]
    assert "self.minAllowed.memory" in rules["VerticalScaler"]
    assert "self.lowerPercentile <= self.targetPercentile" in rules["RecommenderProfile"]


def test_field_descriptions_come_from_docstrings() -> None:
    spec = crd_for(KINDS[0])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    mode = spec["spec"]["properties"]["updatePolicy"]["properties"]["mode"]
    assert mode["description"].startswith("Off: recommend only.")
    assert mode["enum"] == ["Off", "Initial", "Recreate", "InPlaceOrRecreate"]


def test_unions_are_refused() -> None:
    schema = {
        "type": "object",
        "properties": {"x": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
    }
    with pytest.raises(SchemaError, match=r"\.x"):
        structural_schema(schema)


def test_repository_crds_match_the_models() -> None:
    assert check_crds(REPO_CRDS) == 0


def test_check_fails_naming_the_file_when_a_description_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_crds(tmp_path)
    assert check_crds(tmp_path) == 0
    field = VerticalScalerSpec.model_fields["profile"]
    monkeypatch.setattr(field, "description", "A different description.")
    VerticalScalerSpec.model_rebuild(force=True)
    try:
        assert check_crds(tmp_path) == 1
    finally:
        monkeypatch.undo()
        VerticalScalerSpec.model_rebuild(force=True)
    assert "verticalscalers.trimtab.dev.yaml: differs from the models" in capsys.readouterr().err
    assert check_crds(tmp_path) == 0


def test_check_names_missing_and_stale_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_crds(tmp_path)
    (tmp_path / "nodepools.trimtab.dev.yaml").unlink()
    (tmp_path / "gone.trimtab.dev.yaml").write_text("{}\n")
    assert check_crds(tmp_path) == 1
    err = capsys.readouterr().err
    assert "nodepools.trimtab.dev.yaml: missing" in err
    assert "gone.trimtab.dev.yaml: no kind generates it" in err


def test_written_files_are_yaml_crds(tmp_path: Path) -> None:
    write_crds(tmp_path)
    for info in KINDS:
        crd = yaml.safe_load((tmp_path / f"{info.crd_name}.yaml").read_text())
        assert crd["kind"] == "CustomResourceDefinition"
        assert crd["metadata"]["name"] == info.crd_name
