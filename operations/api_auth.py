"""`Authorization: Bearer <token>` for the staff endpoints of /api/v1/."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from ninja.security import HttpBearer

from operations.api_tokens import api_token_user


class StaffToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        return api_token_user(token=token)


staff_token = StaffToken()
