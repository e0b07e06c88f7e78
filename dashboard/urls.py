"""Dashboard URLs: the page, its live panels, session login and the ops buttons."""

from django.contrib.auth import views as auth_views
from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.dashboard_index, name="index"),
    path("panels/", views.dashboard_panels, name="panels"),
    path("login/", views.dashboard_login, name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="dashboard:login"), name="logout"),
    path(
        "anomalies/<uuid:anomaly_id>/acknowledge/",
        views.anomaly_acknowledge_view,
        name="anomaly-acknowledge",
    ),
    path(
        "predictions/<uuid:prediction_id>/feedback/",
        views.prediction_feedback_view,
        name="prediction-feedback",
    ),
    path(
        "predictions/<uuid:prediction_id>/occurred/",
        views.prediction_occurred_view,
        name="prediction-occurred",
    ),
    path("actions/<uuid:action_id>/execute/", views.action_execute_view, name="action-execute"),
    path("actions/<uuid:action_id>/skip/", views.action_skip_view, name="action-skip"),
]
