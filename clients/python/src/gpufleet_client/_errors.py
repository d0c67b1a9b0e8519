"""The client's errors: one base class, so that a caller can catch everything the client raises."""
from typing import Any, Dict, Optional


class GpufleetError(Exception):
    """Anything the client raises."""


class ConnectionFailed(GpufleetError):
    """The gateway could not be reached, or the connection broke before an answer came."""


class ApiError(GpufleetError):
    """The gateway answered with an error: `status` is the HTTP status, `code` the JSON error code
    ("invalid_input", "rate_limited", ...), `message` its explanation."""

    def __init__(self, status: int, code: str, message: str, retry_after: Optional[float] = None,
                 body: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.body = body or {}


class JobFailed(GpufleetError):
    """A job ended in a state other than succeeded; `job` is its record."""

    def __init__(self, job: Dict[str, Any]) -> None:
        error = job.get("error") or {}
        super().__init__(f"job {job.get('id')} {job.get('state')}: {error.get('code', '')} {error.get('message', '')}")
        self.job = job
        self.state = job.get("state")
        self.code = error.get("code")
