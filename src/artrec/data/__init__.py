"""Data model (catalogue, interactions), the schema, the workspace and loaders.

Names are imported from their modules on first use, so that reading the catalogue types
does not load the database layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from artrec.data.catalog import Catalog, Interactions
    from artrec.data.workspace import Workspace

__all__ = ["Catalog", "Interactions", "Workspace"]


def __getattr__(name: str) -> Any:
    if name in ("Catalog", "Interactions"):
        from artrec.data import catalog

        return getattr(catalog, name)
    if name == "Workspace":
        from artrec.data.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'artrec.data' has no attribute {name!r}")
