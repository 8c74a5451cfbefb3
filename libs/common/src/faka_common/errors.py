"""Named domain errors; the HTTP edge maps each to a status code and a clear message."""


class DomainError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class Unavailable(DomainError):
    status_code = 503
    code = "unavailable"
    retry_after = 1


class Busy(Unavailable):
    """More work is waiting than the platform serves in time: this request is turned away at once, to be
    sent again after `retry_after` seconds. Passed on unchanged by every caller up to the buyer."""

    code = "busy"
    retry_after = 2


class RetryLater(Exception):
    """Raised by a message handler whose message came before what it depends on (another topic's event,
    say). Time fixes that, so the consumer parks the message on its retry topic, where it is handled again
    after a delay, instead of retrying in place (which holds up the partition) or dead-lettering it."""
