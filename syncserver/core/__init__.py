"""The sync core: SyncService (service.py: push, pull, conflicts, the feeds), a push
batch applied in one transaction (push.py), the merge engine (merge.py, commutative.py),
conflict resolution (conflicts.py), the notifier that shares committed changes with live
subscribers (notifier.py), signed cursors (cursor.py), and the collections file as the
server starts with it (collections_file.py) with its checks of each write (admission.py).
It reaches the database only through the storage protocol (storage/base.py) and knows no
transport.

May import: model, collections, config, storage, guard."""
