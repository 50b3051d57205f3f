"""The delivery-engine benchmark, one module per part; run it with `python bench/engine.py`."""
