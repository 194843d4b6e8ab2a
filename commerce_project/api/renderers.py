from rest_framework.renderers import JSONRenderer


class ProblemJSONRenderer(JSONRenderer):
    """Lets a client that accepts only `application/problem+json` (as RFC 9457 clients may)
    negotiate successfully instead of getting a 406 for every request."""

    media_type = "application/problem+json"
