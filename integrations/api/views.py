"""`GET /api/v1/feed/`: the order event feed (see integrations.feed for its guarantees)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.cloudevents import to_cloudevent
from integrations.cursor import cursor_encode
from integrations.longpoll import feed_read_waiting

from .permissions import CanReadFeed
from .serializers import FEED_PAGE_SCHEMA, FeedQuerySerializer


class FeedView(APIView):
    permission_classes = [CanReadFeed]

    @extend_schema(parameters=[FeedQuerySerializer], responses=FEED_PAGE_SCHEMA)
    def get(self, request: Request) -> Response:
        query = FeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = feed_read_waiting(
            after=query.position(),
            limit=query.validated_data["limit"],
            event_types=query.validated_data.get("types"),
            wait=query.validated_data["wait"],
        )
        return Response(
            {
                "events": [
                    to_cloudevent(entry.event, position=cursor_encode(entry.position))
                    for entry in page.entries
                ],
                "next": cursor_encode(page.next),
            }
        )
