"""``python -m load vs PEER``: syncserver and another sync server, the same work, side by
side (load/vs/cli.py)."""
