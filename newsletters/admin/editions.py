"""Recurring editions in admin: one schedule per list, and what beat did for each slot.

The runs are read-only: they are the record of what happened (a digest made, or skipped and
why), and the slot's uniqueness depends on them staying.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import dateformat, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from audit.admin_logging import AuditedAdmin
from newsletters import editions
from newsletters.models import EditionRun, EditionSchedule
from operations.admin_permissions import ActionsNeedPermission

WEEKDAYS = [
    (1, "Monday"),
    (2, "Tuesday"),
    (3, "Wednesday"),
    (4, "Thursday"),
    (5, "Friday"),
    (6, "Saturday"),
    (7, "Sunday"),
]
MAX_STORY_COUNT = 50
RUNS_SHOWN = 30


class EditionScheduleForm(forms.ModelForm[EditionSchedule]):
    # The model keeps a JSON list of ISO weekdays; editors tick days.
    days_of_week = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        label="Days",
        error_messages={"required": "Tick at least one day."},
    )

    class Meta:
        model = EditionSchedule
        fields = [
            "mailing_list",
            "is_active",
            "days_of_week",
            "local_time",
            "timezone",
            "story_count",
            "subject_template",
            "requires_approval",
            "lead_minutes",
        ]
        help_texts = {
            "timezone": "An IANA name such as Europe/London or America/New_York. On days the "
            "clocks change, a skipped time goes out when the clocks land, a repeated one once.",
        }

    def clean_days_of_week(self) -> list[int]:
        return sorted(set(self.cleaned_data["days_of_week"]))

    def clean_timezone(self) -> str:
        name = str(self.cleaned_data["timezone"]).strip()
        if editions.zone_load(name=name) is None:
            raise ValidationError(
                "%(name)s is not a timezone this server knows; use an IANA name such as "
                "Europe/London.",
                params={"name": repr(name[:64])},
                code="unknown_timezone",
            )
        return name

    def clean_story_count(self) -> int:
        count = int(self.cleaned_data["story_count"])
        if not 1 <= count <= MAX_STORY_COUNT:
            raise ValidationError(f"Between 1 and {MAX_STORY_COUNT} stories.")
        return count

    def clean_lead_minutes(self) -> int:
        minutes = int(self.cleaned_data["lead_minutes"])
        # Composed more than a day ahead, a daily edition would take the stories meant for the
        # one before it.
        limit = int(editions.MAX_LEAD / timedelta(minutes=1))
        if minutes > limit:
            raise ValidationError(f"At most {limit} minutes (a day).")
        return minutes


class LatestRunsFormSet(BaseInlineFormSet[EditionRun, EditionSchedule, Any]):
    def get_queryset(self) -> QuerySet[EditionRun]:
        # A daily edition makes 365 runs a year; the page shows the latest.
        return super().get_queryset()[:RUNS_SHOWN]


class EditionRunInline(admin.TabularInline[EditionRun, EditionSchedule]):
    model = EditionRun
    formset = LatestRunsFormSet
    verbose_name = "run"
    verbose_name_plural = f"Latest runs (up to {RUNS_SHOWN})"
    fields = ["due_at", "outcome", "reason", "digest_link", "created_at"]
    readonly_fields = ["due_at", "outcome", "reason", "digest_link", "created_at"]
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[EditionRun]:
        return super().get_queryset(request).select_related("digest")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Digest")
    def digest_link(self, run: EditionRun) -> str:
        if run.digest is None:
            return "—"
        try:
            url = reverse("admin:newsletters_digest_change", args=[run.digest.pk])
        except NoReverseMatch:
            return str(run.digest)
        return format_html('<a href="{}">{}</a>', url, run.digest)


@admin.register(EditionSchedule)
class EditionScheduleAdmin(AuditedAdmin[EditionSchedule], ActionsNeedPermission[EditionSchedule]):
    audit_noun = "edition_schedule"
    form = EditionScheduleForm
    list_display = [
        "mailing_list",
        "days",
        "local_time",
        "timezone",
        "story_count",
        "requires_approval",
        "lead_minutes",
        "is_active",
        "next_edition_at",
    ]
    list_filter = ["is_active", "requires_approval"]
    list_select_related = ["mailing_list"]
    search_fields = ["mailing_list__name", "mailing_list__slug"]
    readonly_fields = ["next_edition_at"]
    inlines = [EditionRunInline]

    def get_inline_instances(self, request: HttpRequest, obj: EditionSchedule | None = None) -> Any:
        # A schedule being added has no runs; leaving the inline out keeps the add form simple.
        return [] if obj is None else super().get_inline_instances(request, obj)

    @admin.display(description="Days")
    def days(self, schedule: EditionSchedule) -> str:
        chosen = editions.schedule_weekdays(schedule=schedule)
        return ", ".join(name[:3] for number, name in WEEKDAYS if number in chosen) or "—"

    @admin.display(description="Next edition at")
    def next_edition_at(self, schedule: EditionSchedule) -> str | SafeString:
        if schedule.pk is None:
            return "—"
        if not schedule.is_active:
            return "— (switched off)"
        due = editions.edition_next_due(schedule=schedule, after=timezone.now())
        zone = editions.schedule_zone(schedule=schedule)
        if due is None or zone is None:
            return "— (no day ticked or unknown timezone)"
        return dateformat.format(due.astimezone(zone), "D j M Y, H:i T")
