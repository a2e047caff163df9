"""The ``gt`` subcommands, one module per command group. Each handler parses, calls one ``core``
function and prints: business logic lives in ``core``."""
