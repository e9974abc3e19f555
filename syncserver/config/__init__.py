"""What the process is told and what it reports: the settings table (settings.py, with
the kinds and checks of values in setting_kinds.py and origins.py), start-up errors an
operator can act on (startup.py), where the packaged migrations and client are
(resources.py), and the metrics registry. Read by every room above it, from the storage
factory to the guards and the command line.

May import: model, collections."""
