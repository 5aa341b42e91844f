"""The HTTP edge: parse, call a service, serialise. Only this package knows status codes."""
