from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from .views import ProductViewSet

router = SimpleRouter()
router.register("products", ProductViewSet, basename="product")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
