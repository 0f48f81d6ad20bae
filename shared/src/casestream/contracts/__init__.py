"""Message contracts: one module per owning service. Each topic's envelope carries one data
model; the ``type`` field says what happened. Consumers ignore fields they do not know, so
owners may add fields freely; renaming or removing one needs a new ``version``."""
