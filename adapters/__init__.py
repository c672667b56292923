"""Department adapters: one narrow protocol (adapters.base), three transports, and one package
per department."""
