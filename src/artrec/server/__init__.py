"""The artrec web server: a REST API and a server-rendered web gallery.

Build the app with :func:`artrec.server.app.create_app` from a
:class:`artrec.server.settings.Settings`; ``artrec serve`` runs it with uvicorn. Importing
this package loads nothing heavy: FastAPI, SQLAlchemy and the recommender are imported by
the modules that need them.
"""

from __future__ import annotations

from artrec.server.settings import Settings

__all__ = ["Settings"]
