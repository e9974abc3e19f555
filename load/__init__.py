"""Load and convergence tool for syncserver (run it as ``python -m load``)."""

__version__ = "0.1.0"
