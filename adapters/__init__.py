"""Department adapters: one narrow protocol (adapters.base), three transports, one package per department."""
