"""URLs of the ML API under /api/ml/."""

urlpatterns: list = []
