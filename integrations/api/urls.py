from django.urls import URLPattern, URLResolver, path

from .views import FeedView

urlpatterns: list[URLPattern | URLResolver] = [
    path("feed/", FeedView.as_view(), name="feed"),
]
