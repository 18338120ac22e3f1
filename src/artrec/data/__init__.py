"""Data model (catalogue, interactions), the workspace and loaders."""

from artrec.data.catalog import Catalog, Interactions
from artrec.data.workspace import Workspace

__all__ = ["Catalog", "Interactions", "Workspace"]
