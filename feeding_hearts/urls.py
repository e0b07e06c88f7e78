"""Top-level URLs: ingestion, the ML API, auth, schema, dashboard and admin.

``/`` leads to the dashboard and ``/favicon.ico`` to its icon: browsers ask for the icon on
every page without a ``<link rel="icon">`` (the admin's), and a 404 there is a console error.
Unknown paths and crashes under ``/api/`` answer in the API's JSON error shape
(``feeding_hearts.errors``). The admin's login page is its own, behind the sign-in throttle
(``feeding_hearts.throttling``); the token endpoints' serializers come from ``SIMPLE_JWT``.
"""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework_simplejwt.views import (
    TokenObtainPairView,
    TokenRefreshView,
    TokenVerifyView,
)

from feeding_hearts.throttling import ThrottledAdminAuthenticationForm, login_view_throttled

handler404 = "feeding_hearts.errors.not_found"
handler500 = "feeding_hearts.errors.server_error"

# AdminSite's own hook for its login form; the path below, matched before the admin's, adds the
# 429 status and Retry-After when the throttle refused the form.
admin.site.login_form = ThrottledAdminAuthenticationForm

urlpatterns = [
    path("admin/login/", login_view_throttled(admin.site.login)),
    path("admin/", admin.site.urls),
    path("api/auth/token/", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("api/auth/token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("api/auth/token/verify/", TokenVerifyView.as_view(), name="token_verify"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/ml/", include("ml_prediction.api.urls")),
    path("", include("error_logging.urls")),
    path("dashboard/", include("dashboard.urls")),
    path("", RedirectView.as_view(pattern_name="dashboard:index", permanent=False), name="root"),
    path(
        "favicon.ico",
        RedirectView.as_view(url=static("dashboard/favicon.svg"), permanent=True),
        name="favicon",
    ),
]
