"""The web app: REST API under /api, server-rendered pages (board, deal page, dashboards, import).

    from dealflow.web import create_app
    app = create_app(Settings.from_env())          # or create_app(settings, store=Store(":memory:"))
"""
from dealflow.web.app import create_app

__all__ = ["create_app"]
