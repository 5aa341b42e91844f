"""CLI-level story tests reuse the hostile suite's organisation template (tests/hostile/conftest.py): built once
per session through the real CLI against an honest server, copied for each test. Here nothing lies: the relay
forwards every request unchanged."""

from tests.hostile.conftest import bare_org, org, templates

__all__ = ["bare_org", "org", "templates"]
