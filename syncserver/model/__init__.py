"""The shared vocabulary, the bottom room: what a record, a mutation, an HLC stamp, a
conflict policy and a refusal (ErrorCode, SyncError) are; the stored shapes (the schema in
models.py, the conflict metadata in recordmeta.py) and exact JSON; the versions. Every other
room speaks it; it has no logic that needs a database, a socket or a setting.

May import: nothing of ours."""
