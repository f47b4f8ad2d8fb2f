"""The job's printed lines that programs read back: each made and parsed here, and nowhere else.

    100: accuracy:0.9500 loss: 0.1931 lr: 0.017058                                  every 100 steps
    100: ********* test accuracy:0.7193 test loss: 2.1090 (checkpoint 100)          at every checkpoint

trainer.train prints them; search.hptune reads the test lines of its trials (each test is reported to
Optuna), benchmarks/distributed.py the curves of its runs. The patterns are not anchored: the local
launcher prefixes each worker's lines with "[worker k] ". No TensorFlow here (hptune must start fast).
"""
import re

TRAIN_LINE = re.compile(r"(?P<step>\d+): accuracy:(?P<accuracy>\S+) loss: (?P<loss>\S+) lr: (?P<lr>\S+)")
TEST_LINE = re.compile(r"(?P<step>\d+): \*+ test accuracy:(?P<accuracy>\S+) test loss: (?P<loss>\S+)")


def make_train_line(step, accuracy, loss, lr):
    """The line every 100 steps: the last batch's accuracy and loss, and the learning rate of that step."""
    return f"{step}: accuracy:{accuracy:.4f} loss: {loss:.4f} lr: {lr:.6f}"


def make_test_line(step, accuracy, loss):
    """The line at every checkpoint: the test set's accuracy and mean cross-entropy (the course's format)."""
    return f"{step}: ********* test accuracy:{accuracy:.4f} test loss: {loss:.4f} (checkpoint {step})"
