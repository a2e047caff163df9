"""The test suite (a package, so ``tests.conftest`` and the scripted model modules import the same way
from any invocation: ``pytest tests/test_x.py``, ``python -m pytest``, or from another directory)."""
