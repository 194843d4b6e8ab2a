from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import filters, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from commerce_project.api.actors import actor_name
from commerce_project.api.filters import FilterBackend, StrictOrderingFilter
from commerce_project.api.idempotency import idempotent
from commerce_project.api.pagination import PageNumberPagination
from commerce_project.api.permissions import StaffPermission, is_staff, require_permissions
from commerce_project.api.schema import location_header, raises
from eventstore.prepared import PreparedValuesIterable
from inventory import selectors, services
from inventory.exceptions import StockBusy
from inventory.models import RESTOCK_PRODUCT, Product

from .filters import ProductFilter
from .serializers import (
    PUBLIC_COLUMNS,
    ProductCreateSerializer,
    ProductSerializer,
    ProductUpdateSerializer,
    RestockSerializer,
    StaffProductSerializer,
    StockMovementSerializer,
    public_product,
)

# Query parameters that only choose a page of the catalogue.
_PAGING = frozenset({"page", "page_size"})
_NO_SUCH_ACTION = "inventory.no_such_action"  # an action not listed below: nobody may
_REQUIRED_PERMISSION = {
    "create": "inventory.add_product",
    "partial_update": "inventory.change_product",
    "restock": RESTOCK_PRODUCT,
    "stock_movements": "inventory.view_stockmovement",
}


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("search", OpenApiTypes.STR, description="Matches name or SKU."),
        ]
    )
)
class ProductViewSet(viewsets.GenericViewSet[Product]):
    """The catalogue. Reading is open to anyone; changing it is for staff holding the
    model permission (`_REQUIRED_PERMISSION`), as in the admin. `available` is
    read with the page from the stock rows on lists (one query, no cache round trip), from
    the Redis stock cache (falling back to the database) on a product's own page, and from
    the database row on the answers to writes."""

    lookup_value_regex = "[0-9a-fA-F-]{32,36}"
    filter_backends = [FilterBackend, StrictOrderingFilter, filters.SearchFilter]
    filterset_class = ProductFilter
    search_fields = ("name", "sku")
    ordering_fields = ("name", "price", "sku", "created_at")
    ordering = ("name", "id")

    def get_permissions(self) -> Sequence[BasePermission]:
        if self.action in ("list", "retrieve"):
            return [permissions.AllowAny()]
        # Staff with the model permission, as in the admin (initial stock on create is a
        # restock too: checked in `create` once the body is read).
        return [StaffPermission(_REQUIRED_PERMISSION.get(self.action or "", _NO_SUCH_ACTION))]

    def get_queryset(self) -> QuerySet[Product]:
        return selectors.product_list(include_inactive=is_staff(self.request.user))

    def get_serializer_class(self) -> type[ProductSerializer]:
        return StaffProductSerializer if is_staff(self.request.user) else ProductSerializer

    def _render(
        self, products: Sequence[Product], availability: dict[Any, int] | None = None
    ) -> Any:
        if availability is None:
            availability = selectors.product_availability(p.id for p in products)
        serializer = self.get_serializer_class()(
            products, many=True, context={"request": self.request, "availability": availability}
        )
        return serializer.data

    def _render_written(self, product_id: Any, status_code: int = status.HTTP_200_OK) -> Response:
        """The answer to a write: `available` from the stock row just read back, never from
        the cache. The write's cache update runs after COMMIT, and under an Idempotency-Key
        the view runs inside the key's transaction, so the cache still holds the old number
        here (and the replayed answer would keep it)."""
        product = selectors.product_get(product_id=product_id, include_inactive=True)
        availability = {product.id: product.stock.available}
        return Response(self._render([product], availability)[0], status=status_code)

    def list(self, request: Request) -> Response:
        public = self.get_serializer_class() is ProductSerializer
        products: QuerySet[Any] | selectors.ActiveCatalogue
        if public and request.query_params.keys() <= _PAGING:
            # The catalogue as anyone browses it (no filter, search or ordering): written-out
            # statements, without building and compiling a query (tests pin it to the ORM's).
            products = selectors.ActiveCatalogue(PUBLIC_COLUMNS)
        elif public:
            # The public page needs seven columns and `available`: rows as dicts, without
            # building two model instances per product, fetched as a prepared statement
            # (eventstore.prepared).
            rows = selectors.public_catalogue_rows(
                self.filter_queryset(self.get_queryset()), PUBLIC_COLUMNS
            )
            rows._iterable_class = PreparedValuesIterable
            products = rows
        else:
            products = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(products)  # type: ignore[arg-type]  # a sequence too
        assert page is not None  # pagination is always on
        if not public:
            return self.get_paginated_response(self._render(page))
        # `available` came with the rows, from the stock rows: no cache round trip.
        return self.get_paginated_response([public_product(r, r["available"]) for r in page])

    def retrieve(self, request: Request, pk: str) -> Response:
        product = selectors.product_get(product_id=pk, include_inactive=is_staff(request.user))
        return Response(self._render([product])[0])

    @extend_schema(
        request=ProductCreateSerializer,
        responses={201: StaffProductSerializer},
        parameters=[location_header(201)],
    )
    @idempotent
    def create(self, request: Request) -> Response:
        serializer = ProductCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data.get("initial_stock"):
            require_permissions(request.user, RESTOCK_PRODUCT)
        product = services.product_create(**serializer.validated_data, actor=actor_name(request))
        response = self._render_written(product.id, status.HTTP_201_CREATED)
        response["Location"] = f"{request.path.rstrip('/')}/{product.id}/"
        return response

    @extend_schema(request=ProductUpdateSerializer, responses={200: StaffProductSerializer})
    def partial_update(self, request: Request, pk: str) -> Response:
        product = selectors.product_get(product_id=pk, include_inactive=True)
        serializer = ProductUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.product_update(product_id=product.id, **serializer.validated_data)
        return self._render_written(product.id)

    @extend_schema(request=RestockSerializer, responses={200: StaffProductSerializer})
    @action(detail=True, methods=["post"])
    @raises(StockBusy)
    @idempotent
    def restock(self, request: Request, pk: str) -> Response:
        product = selectors.product_get(product_id=pk, include_inactive=True)
        serializer = RestockSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.stock_restock(
            product_id=product.id,
            quantity=serializer.validated_data["quantity"],
            reason=serializer.validated_data["reason"],
            actor=actor_name(request),
        )
        return self._render_written(product.id)

    @extend_schema(responses={200: StockMovementSerializer(many=True)})
    @action(detail=True, methods=["get"], url_path="stock-movements", filter_backends=[])
    def stock_movements(self, request: Request, pk: str) -> Response:
        product = selectors.product_get(product_id=pk, include_inactive=True)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.stock_movement_list(product_id=product.id), request, view=self
        )
        assert page is not None
        return paginator.get_paginated_response(StockMovementSerializer(page, many=True).data)
