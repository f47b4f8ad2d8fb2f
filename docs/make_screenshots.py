"""Make the README's picture of the panels with the scripts' own drawing code (the same as the window's).

    python3 docs/make_screenshots.py          # step 3.1 after 2,000 iterations -> docs/panels.png (~1 min)
"""
import argparse
import os
import subprocess
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)

if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()   # --help; no flags of its own
    subprocess.run([sys.executable, os.path.join(ROOT, "mnist_3.1_convolutional_bigger_dropout.py"), "--text",
                    "--iterations", "2001", "--save-png", os.path.join(DOCS, "panels.png")], check=True)
