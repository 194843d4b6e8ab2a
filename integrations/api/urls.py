from django.urls import URLPattern, URLResolver, include, path

from .views import FeedView

urlpatterns: list[URLPattern | URLResolver] = [
    path("feed/", FeedView.as_view(), name="feed"),
    # webhooks (integrations/webhooks/api)
    path("", include("integrations.webhooks.api.urls")),
]
