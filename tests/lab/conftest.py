"""Fixtures of the harness tests."""


def pytest_configure(config):
  config.addinivalue_line("markers", "slow: a subprocess fault test (SIGTERM, kill -9)")
