import pytest

from tests.flows.conftest import _no_default_model_override, bad_structure, model_file, structures  # noqa: F401


@pytest.fixture(scope="session")
def tiny_field_model_zno():
    from macefield_flows.testing import tiny_field_model

    return tiny_field_model(["Zn", "O"], seed=1)
