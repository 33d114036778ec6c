"""Project configuration: settings, URLs, the Celery app, WSGI/ASGI entry points."""

# Importing the Celery app here makes `@shared_task` bind to it in every process that loads Django.
from config.celery_app import app as celery_app

__all__ = ["celery_app"]
