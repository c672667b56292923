"""The village clerk's workbench: zh-CN pages served by the hub at ``/``.

Server-rendered Jinja2 pages plus one small plain-JavaScript file (no build step, nothing from
the internet). ``install(app, ctx)`` adds the routes to the API's FastAPI application.
"""

from __future__ import annotations

from hub.web.app import install

__all__ = ["install"]
