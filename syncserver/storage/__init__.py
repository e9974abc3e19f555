"""The database behind one protocol: Storage and its transactions (base.py), the errors
every backend raises for its driver's (failures.py), the write buffer and mutation log
shared by the backends, the backend chosen by --db (factory.py), schema migrations
(migrate.py), the database epoch (epoch.py), what a feed page reads of a space (a filter,
what a reader's roles leave it: reading.py), and the backends themselves: sqlite/ and
postgres/ (with its cross-instance fan-out). It stores records and changes; it never
decides a merge or serves a request.

May import: model, collections, config."""
