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
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from audit.admin_logging import AuditedAdmin
from newsletters import editions
from newsletters.models import EditionRun, EditionSchedule
from operations.admin_permissions import ActionsNeedPermission

WEEKDAYS = [
    (1, _("Monday")),
    (2, _("Tuesday")),
    (3, _("Wednesday")),
    (4, _("Thursday")),
    (5, _("Friday")),
    (6, _("Saturday")),
    (7, _("Sunday")),
]
# What the schedule list shows for each ISO weekday (a translation need not be 3 letters long).
WEEKDAYS_SHORT = {
    1: _("Mon"),
    2: _("Tue"),
    3: _("Wed"),
    4: _("Thu"),
    5: _("Fri"),
    6: _("Sat"),
    7: _("Sun"),
}
MAX_STORY_COUNT = 50
RUNS_SHOWN = 30


class EditionScheduleForm(forms.ModelForm[EditionSchedule]):
    # The model keeps a JSON list of ISO weekdays; editors tick days.
    days_of_week = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        label=_("Days"),
        error_messages={"required": _("Tick at least one day.")},
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
            "timezone": _(
                "An IANA name such as Europe/London or America/New_York. On days the clocks "
                "change, a skipped time goes out when the clocks land, a repeated one once."
            ),
        }

    def clean_days_of_week(self) -> list[int]:
        return sorted(set(self.cleaned_data["days_of_week"]))

    def clean_timezone(self) -> str:
        name = str(self.cleaned_data["timezone"]).strip()
        if editions.zone_load(name=name) is None:
            raise ValidationError(
                gettext(
                    "%(name)s is not a timezone this server knows; use an IANA name such as "
                    "Europe/London."
                ),
                params={"name": repr(name[:64])},
                code="unknown_timezone",
            )
        return name

    def clean_story_count(self) -> int:
        count = int(self.cleaned_data["story_count"])
        if not 1 <= count <= MAX_STORY_COUNT:
            raise ValidationError(
                gettext("Between 1 and %(most)d stories.") % {"most": MAX_STORY_COUNT}
            )
        return count

    def clean_lead_minutes(self) -> int:
        minutes = int(self.cleaned_data["lead_minutes"])
        # Composed more than a day ahead, a daily edition would take the stories meant for the
        # one before it.
        limit = int(editions.MAX_LEAD / timedelta(minutes=1))
        if minutes > limit:
            raise ValidationError(gettext("At most %(limit)d minutes (a day).") % {"limit": limit})
        return minutes


class LatestRunsFormSet(BaseInlineFormSet[EditionRun, EditionSchedule, Any]):
    def get_queryset(self) -> QuerySet[EditionRun]:
        # A daily edition makes 365 runs a year; the page shows the latest.
        return super().get_queryset()[:RUNS_SHOWN]


def _latest_runs() -> str:
    return ngettext("Latest run (up to %(count)d)", "Latest runs (up to %(count)d)", RUNS_SHOWN) % {
        "count": RUNS_SHOWN
    }


class EditionRunInline(admin.TabularInline[EditionRun, EditionSchedule]):
    model = EditionRun
    formset = LatestRunsFormSet
    verbose_name = _("run")
    verbose_name_plural = lazy(_latest_runs, str)()
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

    @admin.display(description=_("Digest"))
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

    @admin.display(description=_("Days"))
    def days(self, schedule: EditionSchedule) -> str:
        chosen = editions.schedule_weekdays(schedule=schedule)
        return (
            ", ".join(str(short) for number, short in WEEKDAYS_SHORT.items() if number in chosen)
            or "—"
        )

    @admin.display(description=_("Next edition at"))
    def next_edition_at(self, schedule: EditionSchedule) -> str | SafeString:
        if schedule.pk is None:
            return "—"
        if not schedule.is_active:
            return gettext("— (switched off)")
        due = editions.edition_next_due(schedule=schedule, after=timezone.now())
        zone = editions.schedule_zone(schedule=schedule)
        if due is None or zone is None:
            return gettext("— (no day ticked or unknown timezone)")
        return dateformat.format(due.astimezone(zone), "D j M Y, H:i T")
