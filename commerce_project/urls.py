from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from commerce_project.api import health
from commerce_project.api.root import ApiRootView
from commerce_project.api.routing import app_include, remembering_include
from operations import views as operations_views
from operations.dashboard import operations_dashboard

api_v1: list[URLPattern | URLResolver] = [
    path("", ApiRootView.as_view(), name="api-root"),
    path("auth/", include("accounts.api.urls")),
    app_include("inventory.api.urls"),
    app_include("carts.api.urls"),
    app_include("orders.api.urls"),
    app_include("sagas.api.urls"),
    app_include("integrations.api.urls"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    # First, and its resolutions remembered: almost every request is an API call (no other
    # pattern starts with api/v1/, so the order changes nothing else).
    remembering_include("api/v1/", api_v1),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", operations_views.metrics, name="metrics"),
    path(
        "admin/operations/",
        admin.site.admin_view(operations_dashboard),
        name="operations-dashboard",
    ),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

handler404 = "commerce_project.api.problems.handler404"
handler500 = "commerce_project.api.problems.handler500"
