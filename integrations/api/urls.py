from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    # webhooks (integrations/webhooks/api)
    path("", include("integrations.webhooks.api.urls")),
]
