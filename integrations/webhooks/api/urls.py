from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from .views import WebhookSubscriptionViewSet

router = SimpleRouter()
router.register("webhooks", WebhookSubscriptionViewSet, basename="webhook")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
