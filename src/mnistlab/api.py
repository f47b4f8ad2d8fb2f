"""The public Python API, imported lazily by `mnistlab.<name>`."""
from .data import Dataset, load as load_data
from .events import Sink
from .loop import Control, RunResult, fit
from .recipes import RECIPES, Recipe, get_recipe
from .runs import RunDir
from .session import train

__all__ = sorted(__import__("mnistlab")._API)
