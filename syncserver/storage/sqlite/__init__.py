"""SQLite: one writer thread with group commit and reader threads (backend.py), its
transaction (transaction.py), its reads (feed.py), its file checks, lock and migration at
start (startup.py), and restore and new-epoch on the file (epoch.py)."""
