"""mnistlab: train and watch neural networks that recognise handwritten digits.

Importing the package is cheap; torch loads with the first function that needs it.
"""
__version__ = "0.1.0"


def __getattr__(name):  # lazy public API: mnistlab.fit, mnistlab.Recipe, ...
    import importlib
    api = importlib.import_module(".api", __name__)  # not `from . import api`: that re-enters __getattr__
    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module 'mnistlab' has no attribute {name!r}")
