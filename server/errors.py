"""Domain errors. Services raise these; only the HTTP edge maps them to status codes (server/http/errors.py)."""

from __future__ import annotations


class ServiceError(Exception):
    """A request could not be carried out."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(ServiceError):
    """The server configuration is not valid."""

    code = "bad_config"


class BadRequestError(ServiceError):
    """The request is malformed or fails a check; nothing was written."""

    code = "bad_request"


class UnauthorizedError(ServiceError):
    """Authentication failed (all causes look the same)."""

    code = "unauthorized"

    def __init__(self, message: str = "authentication failed") -> None:
        super().__init__(message)


class ForbiddenError(ServiceError):
    """The caller's role may not do this."""

    code = "forbidden"


class NotFoundError(ServiceError):
    """Absent, or not yours: the two look the same."""

    code = "not_found"


class ConflictError(ServiceError):
    """The object exists with other content, or the workflow state does not allow this."""

    code = "conflict"


class DirectoryMovedError(ConflictError):
    """The key directory got another entry after the signer fetched it: fetch it again and sign again."""

    code = "directory_moved"


class GoneError(ServiceError):
    """The invite was used or has expired."""

    code = "gone"


class RateLimitedError(ServiceError):
    """Too many requests from this principal in this minute."""

    code = "rate_limited"
