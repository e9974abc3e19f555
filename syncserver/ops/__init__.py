"""The process and its operator: the `syncserver` command (cli.py), the app assembled
from every room (app.py: create_app), dev mode (devmode.py, its access table devaccess.py)
and the file-descriptor budget (fdlimit.py). The top room: nothing imports it but
syncserver/__main__.py.

May import: model, collections, config, storage, guard, core, webpush, transport."""
