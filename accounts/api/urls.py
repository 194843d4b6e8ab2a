from django.urls import path

from .views import LogoutAllView, LogoutView, PasswordChangeView, RegisterView, TokenView

urlpatterns = [
    path("register/", RegisterView.as_view(), name="auth-register"),
    path("token/", TokenView.as_view(), name="auth-token"),
    path("logout/", LogoutView.as_view(), name="auth-logout"),
    path("logout-all/", LogoutAllView.as_view(), name="auth-logout-all"),
    path("password/", PasswordChangeView.as_view(), name="auth-password"),
]
