"""One exception hierarchy for everything the gateway answers with an error.

Each class carries the HTTP status and the OpenAI error ``type``/``code`` that a client expects;
the dialect encoders (``routes/errors.py``) turn them into bodies. Messages are written for the
caller and never contain an upstream host, port, path or token: those go to the log, keyed by
provider id.
"""

from __future__ import annotations


class GatewayError(Exception):
    status = 500
    error_type = "server_error"
    code: str | None = "internal_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.retry_after = retry_after


class InvalidRequest(GatewayError):
    status = 400
    error_type = "invalid_request_error"
    code = "invalid_request"


class ModelNotFound(GatewayError):
    status = 404
    error_type = "invalid_request_error"
    code = "model_not_found"


class RouteNotFound(GatewayError):
    status = 404
    error_type = "invalid_request_error"
    code = "unknown_url"


class MethodNotAllowed(GatewayError):
    status = 405
    error_type = "invalid_request_error"
    code = "method_not_allowed"


class RequestTooLarge(GatewayError):
    status = 413
    error_type = "invalid_request_error"
    code = "request_too_large"


class UpstreamFailed(GatewayError):
    """Every provider tried failed (connection refused, reset, 5xx, malformed answer)."""

    status = 502
    error_type = "upstream_error"
    code = "upstream_failed"


class NoProviderAvailable(GatewayError):
    """No provider of the model could take the request: all ejected, full or overloaded."""

    status = 503
    error_type = "service_unavailable"
    code = "no_provider_available"


class UpstreamTimeout(GatewayError):
    status = 504
    error_type = "timeout"
    code = "upstream_timeout"


class ClientClosedRequest(GatewayError):
    """The client left while its request waited for a slot (nginx's 499; nobody reads the body)."""

    status = 499
    error_type = "invalid_request_error"
    code = "client_closed_request"


class UpstreamRejected(GatewayError):
    """An upstream refused the request as the client's mistake (a 4xx other than 429).

    Same-protocol traffic passes the upstream's own error body through; a converted request
    gets this, with the upstream's status and message, rendered in the client's dialect.
    """

    error_type = "invalid_request_error"
    code = "upstream_rejected"

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class AuthenticationFailed(GatewayError):
    """No API key, or one the gateway does not know (or revoked, or expired)."""

    status = 401
    error_type = "invalid_request_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    """A valid key that may not use this endpoint group or model."""

    status = 403
    error_type = "permission_error"
    code = "permission_denied"


class RateLimited(GatewayError):
    """A key's own limit (requests or tokens per minute, token budget) is used up."""

    status = 429
    error_type = "rate_limit_exceeded"  # openai's SDK reads the status; the code is what scripts match
    code = "rate_limit_exceeded"


class KeyStoreUnavailable(GatewayError):
    """API keys cannot be checked: the key store (Redis) does not answer."""

    status = 503
    error_type = "service_unavailable"
    code = "auth_unavailable"


class ContentBlocked(GatewayError):
    """A request guardrail judged what the client sent unsafe; nothing was sent upstream."""

    status = 400
    error_type = "invalid_request_error"
    code = "content_policy_violation"


class GuardrailUnavailable(GatewayError):
    """A guardrail that must judge the request gave no verdict (fail closed); nothing was sent upstream."""

    status = 503
    error_type = "service_unavailable"
    code = "guardrail_unavailable"


class TaskNotFound(GatewayError):
    """No background task with this id in the results database."""

    status = 404
    error_type = "invalid_request_error"
    code = "task_not_found"


class ServiceNotFound(GatewayError):
    """No task service of this name in the manifest directory (or its template is gone)."""

    status = 404
    error_type = "invalid_request_error"
    code = "service_not_found"
