"""Site-wide 404 and 500 pages: JSON under the API prefixes, Django's HTML elsewhere.

An API client that mistypes a path (``/api/ml/predictons/``) or meets a crash outside a DRF
view should get the same ``{"error": {"code", "message", "details"}}`` shape as every other API
error, not an HTML page it cannot parse. The dashboard and the admin keep Django's pages.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIXES = ("/api/", "/v1/")


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIXES)


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not _is_api(request):
        return defaults.page_not_found(request, exception)
    return _error(
        404,
        "not_found",
        f"No API endpoint at {request.path}. The endpoints are listed in the OpenAPI schema "
        "(/api/schema/) and at /api/docs/.",
    )


def server_error(request: HttpRequest) -> HttpResponse:
    if not _is_api(request):
        return defaults.server_error(request)
    return _error(
        500,
        "server_error",
        "The server failed to handle this request; the traceback is in the server's log.",
    )
