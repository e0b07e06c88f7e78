"""Every admin page of both apps loads for a superuser; the registry has its lifecycle actions."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

REGISTERED = [
    m
    for label in ("ml_prediction", "error_logging")
    for m in apps.get_app_config(label).get_models()
    if admin.site.is_registered(m)
]


def test_every_ml_table_is_in_the_admin():
    for model in apps.get_app_config("ml_prediction").get_models():
        assert admin.site.is_registered(model), model.__name__


@pytest.fixture
def superuser_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root-admin", "a@example.org", "pw-123456")
    client.force_login(user)
    return client


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m.__name__)
def test_changelist_and_add_pages_load(superuser_client, model):
    meta = model._meta
    response = superuser_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
    assert response.status_code == 200
    model_admin = admin.site._registry[model]
    if model_admin.has_add_permission(response.wsgi_request):
        add = superuser_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
        assert add.status_code == 200


def test_registry_filters_search_and_actions(superuser_client):
    from ml_prediction.models import MLModel

    first = MLModel.objects.create(
        model_name="django-xgb",
        model_type="error_classifier",
        service="django",
        model_algorithm="XGBoost",
        status="active",
        version=1,
    )
    second = MLModel.objects.create(
        model_name="django-xgb",
        model_type="error_classifier",
        service="django",
        model_algorithm="XGBoost",
        status="inactive",
        version=2,
    )
    url = reverse("admin:ml_prediction_mlmodel_changelist")
    filtered = superuser_client.get(url, {"service": "django", "status": "active", "q": "xgb"})
    assert filtered.status_code == 200
    assert list(filtered.context["cl"].queryset) == [first]
    response = superuser_client.post(
        url, {"action": "activate", "_selected_action": [str(second.model_id)]}, follow=True
    )
    assert response.status_code == 200
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("inactive", "active")
    superuser_client.post(url, {"action": "archive", "_selected_action": [str(first.model_id)]})
    first.refresh_from_db()
    assert first.status == "archived"


def test_admin_needs_staff_login(client):
    response = client.get(reverse("admin:ml_prediction_mlmodel_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
