"""The one place the hub reaches into the ``adapters`` package.

``adapters`` implements the ``hub.domain.adapter.Adapter`` protocol and depends only on
``hub.domain`` and ``hub.config``; the hub depends on the protocol, never on a transport. The
process wiring (``hub.runtime.wiring`` and ``hub worker``) builds each department's adapter
through this module, which is the single exception allowed by the import-linter contract
"hub does not import adapters" in pyproject.toml.
"""

from __future__ import annotations

from adapters.registry import build_adapter

__all__ = ["build_adapter"]
