"""The HTTP API for village terminals and department callbacks.

    create_app(ctx: ApiContext, mounts=()) -> FastAPI
    ApiContext(settings, config, store, blobs, readiness=lambda: True)
"""

from hub.intake.api.app import create_app
from hub.intake.api.context import ApiContext

__all__ = ["ApiContext", "create_app"]
