"""Tessera's cryptographic core: pure functions and frozen types over libsodium (through PyNaCl).

Imports neither the server nor the client, nor aiohttp nor SQLAlchemy. See docs/protocol.md.
"""

__version__ = "0.1.0"
