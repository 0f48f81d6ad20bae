"""Message contracts: one module per owning service. Each event topic's envelope carries one
data model; the ``type`` field says what happened. A command topic's envelope carries one
model per command type, chosen by ``type`` (``commands.CommandEnvelope``). Consumers ignore
fields they do not know, so owners may add fields freely (with defaults, so older messages
still validate); renaming or removing one needs a new ``version``.

``inputs`` is no service's: the field types of what comes in over HTTP (and in commands),
which cannot reach PostgreSQL badly."""
