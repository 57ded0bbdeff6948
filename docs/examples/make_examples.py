"""Regenerate the worked examples in this folder (SYNTHETIC patients):

    PYTHONPATH=src python docs/examples/make_examples.py
"""

from pathlib import Path

from dashboard.ingest.examples import write_examples

if __name__ == "__main__":
    for p in write_examples(Path(__file__).resolve().parent):
        print(f"wrote {p}")
