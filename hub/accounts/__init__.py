"""Village clerks: people who sign in to the workbench (``hub.web``), beside machine terminals.

``schema`` holds the tables (created by store migration 2), ``passwords`` the argon2 hashing,
``clerks`` the accounts, sign-in with lockout, and cookie sessions with idle timeout and a CSRF
token each. Every change is written in a store write transaction with its audit entry.
"""
