"""PostgreSQL: a connection pool shared by many instances (backend.py), its transaction
and the global lock order (transaction.py), its reads (feed.py), compaction (compact.py),
the schema check at start (startup.py), and the live fan-out between instances over
LISTEN/NOTIFY (fanout.py), which feeds a notifier it is given."""
