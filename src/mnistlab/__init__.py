"""mnistlab: train and watch neural networks that recognise handwritten digits.

Importing the package is cheap; torch loads with the first function that needs it.
"""
__version__ = "0.1.0"


def __getattr__(name):  # lazy public API: mnistlab.fit, mnistlab.Recipe, ...
    from . import api
    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module 'mnistlab' has no attribute {name!r}")
