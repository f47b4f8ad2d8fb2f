"""mnistlab: train and watch neural networks that recognise handwritten digits.

Importing the package is cheap; torch loads with the first function that needs it.
"""
__version__ = "0.1.0"

_API = {"Control", "Dataset", "RECIPES", "Recipe", "RunDir", "RunResult", "Sink", "fit", "get_recipe",
        "load_data", "train"}


def __getattr__(name):  # lazy public API: mnistlab.train(...), mnistlab.Recipe, ...
    if name not in _API:
        raise AttributeError(f"module 'mnistlab' has no attribute {name!r}")
    import importlib
    return getattr(importlib.import_module("mnistlab.api"), name)
