"""Who may do what, and how much: bearer tokens (tokens.py, claims.py) and the
authenticator (auth.py), space permissions and a token's roles (permissions.py), the
declared collections' role lists against them (roles.py), rate limits and per-user
connection counts (ratelimit.py), the bounds under hostile load: gates, byte budgets and the
page pool (limits.py). One Guard (guard.py), built from the settings, holds a server's
share of them; the SyncService is given it, and the transports reach auth and limits
through it. Guards judge requests; they neither store nor sync anything.

May import: model, collections, config, storage."""
