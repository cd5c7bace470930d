"""Reading artifact files: where the folders are (packaged or a site's), YAML that refuses
duplicate keys, and the collector that gathers every problem of every file with its place."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from gateway._artifacts import bundled_root
from gateway.errors import ArtifactInvalid, Issue

FOLDER_NAMES = ("mappings", "schemas", "consent_policies")


@dataclass(frozen=True, kw_only=True)
class ArtifactFolders:
    """Where the three artifact folders are read from (each may be a site's own)."""

    mappings: Path
    schemas: Path
    policies: Path

    @classmethod
    def under(cls, root: Path) -> ArtifactFolders:
        return cls(mappings=root / "mappings", schemas=root / "schemas", policies=root / "consent_policies")

    @classmethod
    def bundled(cls) -> ArtifactFolders:
        return cls.under(bundled_root())

    def named(self) -> tuple[tuple[str, Path], ...]:
        return (("mappings", self.mappings), ("schemas", self.schemas), ("consent_policies", self.policies))

    def missing(self) -> list[Issue]:
        return [
            Issue(path=str(folder), message=f"the {name} folder does not exist; check the setting naming it")
            for name, folder in self.named()
            if not folder.is_dir()
        ]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of keeping the last one silently."""


def _mapping_no_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return dict(loader.construct_pairs(node))


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _mapping_no_duplicates,
)


class _Collector:
    def __init__(self, folders: ArtifactFolders) -> None:
        self.folders = folders
        self.issues: list[Issue] = []
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}

    def rel(self, path: Path) -> str:
        """``mappings/codes/x.yaml`` for a file in a known folder (wherever that folder is)."""
        for name, folder in self.folders.named():
            if path == folder or folder in path.parents:
                return str(Path(name) / path.relative_to(folder))
        return str(path)

    def read(self, path: Path) -> Any:
        try:
            text = path.read_text(encoding="utf-8")
            return json.loads(text) if path.suffix == ".json" else yaml.load(text, _StrictLoader)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            self.issues.append(Issue(path=self.rel(path), message=f"cannot be read: {exc}"))
            return None

    def validate(self, doc: Any, meta: str, path: Path) -> bool:
        validator = self._validators.get(meta)
        if validator is None:
            schema = json.loads((bundled_root() / "schemas" / "meta" / meta).read_text("utf-8"))
            validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
            self._validators[meta] = validator
        found = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for error in found:
            self.issues.append(Issue(path=f"{self.rel(path)}: {error.json_path}", message=error.message))
        return not found

    def raise_if_any(self, what: str) -> None:
        if self.issues:
            raise ArtifactInvalid(
                f"{what}: {len(self.issues)} problem(s); fix them and restart",
                self.issues,
            )


def _folders(where: ArtifactFolders | Path | None) -> ArtifactFolders:
    if where is None:
        return ArtifactFolders.bundled()
    return where if isinstance(where, ArtifactFolders) else ArtifactFolders.under(where)
