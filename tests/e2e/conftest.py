import pytest


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory):
    from dashboard.synth import build_demo

    path = tmp_path_factory.mktemp("e2e") / "registry.duckdb"
    build_demo(path, 1000, 20260715, progress=False)
    return path
