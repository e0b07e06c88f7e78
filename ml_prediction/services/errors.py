"""Exceptions the services raise and the API maps to status codes (404, 409)."""


class NotFound(Exception):
    """The object does not exist (API: 404)."""


class InvalidTransition(Exception):
    """A state change that makes no sense now, e.g. executing an executed action (API: 409)."""
