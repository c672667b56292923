"""The village terminal (``hub terminal``): the workbench on the village PC, store and forward.

``store`` (SQLite queue, files, cached views), ``client`` (the hub API: tus uploads, cases,
events), ``forwarder`` (in order, exactly once, jittered backoff), ``follower`` (the event
stream with Last-Event-ID), ``scans`` (downscaling), ``web`` (the pages), ``service`` (together).
"""
