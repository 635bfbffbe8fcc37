"""The pipeline's domain: status model, provider contract, classification, use cases.

Nothing in this package imports boto3 or requests, reads os.environ, or does I/O of its own:
collaborators arrive through the protocols in ``ports``. ``tests/unit/test_layering.py`` enforces it.
"""
