from tests.flows.conftest import _no_default_model_override, bad_structure, model_file, structures  # noqa: F401
