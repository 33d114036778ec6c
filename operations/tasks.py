"""Thin Celery adapters over operations' domain functions: ids in, one call."""

from __future__ import annotations

from celery import Task, shared_task

from operations import heartbeat, mailcheck


@shared_task(bind=True, acks_late=True, time_limit=90, soft_time_limit=75)
def send_mail_check(self: Task[..., None], check_id: int) -> None:
    mailcheck.mail_check_send(check_id=check_id, worker=self.request.hostname or "")


@shared_task(ignore_result=True, expires=25)
def record_beat_tick() -> None:
    # Expires before the next tick: a backlog of stale ticks would only repeat the same fact.
    heartbeat.beat_tick_record()
