from tests.flows.conftest import bad_structure, engine, model_file, structures  # noqa: F401
