from rest_framework.pagination import PageNumberPagination as _DrfPageNumberPagination


class PageNumberPagination(_DrfPageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200
