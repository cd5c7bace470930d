"""The gateway's data artifacts: mappings, code tables, schemas and consent policies.

They ship inside the package (``gateway/_artifacts``, read with ``importlib.resources``); an
operator may point any of the three folders at a site's own copy. The meta-schemas always come
from the package, so a site's folders are held to exactly the same rules.

- ``reading``: where the folders are, strict YAML, the problem collector;
- ``loading``: mappings, code tables, vocabulary and the plan schema, checked together;
- ``world``: a policy folder's organizations and agreements.
"""

from gateway._artifacts import bundled_root
from gateway.artifacts.loading import Artifacts, Vocabulary, load_artifacts, mapping_files
from gateway.artifacts.reading import FOLDER_NAMES, ArtifactFolders
from gateway.artifacts.world import (
    World,
    agreement_from_doc,
    check_agreement_terms,
    load_world,
    organization_term_issues,
)

__all__ = [
    "FOLDER_NAMES",
    "ArtifactFolders",
    "Artifacts",
    "Vocabulary",
    "World",
    "agreement_from_doc",
    "bundled_root",
    "check_agreement_terms",
    "load_artifacts",
    "load_world",
    "mapping_files",
    "organization_term_issues",
]
