"""The public Python API, imported lazily by `mnistlab.<name>`."""
from .data import Dataset, load as load_data
from .events import Sink
from .loop import Control, RunResult, fit
from .recipes import RECIPES, Recipe, get_recipe
from .runs import RunDir
from .session import train

__all__ = ["Control", "Dataset", "RECIPES", "Recipe", "RunDir", "RunResult", "Sink", "fit", "get_recipe",
           "load_data", "train"]
