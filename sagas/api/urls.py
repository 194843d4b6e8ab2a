from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from .views import SagaViewSet

router = SimpleRouter()
router.register("sagas", SagaViewSet, basename="saga")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
