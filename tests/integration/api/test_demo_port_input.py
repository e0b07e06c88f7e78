"""``manage.py demo --port`` takes a TCP port (1..65535); anything else is a clear CommandError
before any setup happens."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from ml_prediction.models import MLModel

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


@pytest.mark.parametrize("port", ["99999", "0", "-1", "65536"])
def test_a_port_outside_1_to_65535_is_refused_before_setup(port):
    with pytest.raises(CommandError, match=r"--port must be between 1 and 65535, got"):
        call_command("demo", f"--port={port}", "--no-serve", "--no-progress")

    assert not MLModel.objects.exists()
