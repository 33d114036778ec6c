from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def article(request: HttpRequest) -> HttpResponse:
    """A news article page like a publisher's, whose footer carries the signup form."""
    return render(request, "demo/article.html")
