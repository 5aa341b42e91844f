"""What tests, conftests and benches share: the organisations they build, the server processes they run, the
CLI harness, the councils. Fixtures stay in the conftest.py files; the helpers they are built from live here, so
nothing imports a conftest module or a private name of another test module (tests/client/test_structure.py)."""
