"""Department adapters: the registry and three transports implementing the Adapter protocol of
``hub.domain.adapter``, plus each department's wire files. Depends on ``hub.domain`` and
``hub.config`` only (docs/architecture.md)."""
