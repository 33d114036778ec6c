"""Digests in admin: compose (ordered stories with autocomplete), check, preview, test, schedule.

Every button is a POST to a small view that calls one domain function and reports back with a
message; nothing here changes a digest's state directly. Once sending starts the digest is
read-only: what readers get must not change under their feet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.clickjacking import xframe_options_sameorigin

from newsletters import checks, controls, progress, proofs, scheduling
from newsletters.models import Digest, DigestStory
from newsletters.stories import html_clean

TIMEZONES = [
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
]


class DigestForm(forms.ModelForm[Digest]):
    class Meta:
        model = Digest
        fields = ["mailing_list", "subject", "preheader", "intro"]

    def clean_intro(self) -> str:
        return html_clean(self.cleaned_data.get("intro") or "")


class DigestStoryInline(admin.TabularInline[DigestStory, Digest]):
    model = DigestStory
    fields = ["position", "story"]
    autocomplete_fields = ["story"]
    extra = 1
    ordering = ["position", "id"]


class ScheduleForm(forms.Form):
    send_at = forms.DateTimeField(
        label="Send at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    zone = forms.ChoiceField(
        label="Timezone", choices=[(z, z) for z in TIMEZONES], initial="Europe/London"
    )

    def send_at_aware(self) -> datetime:
        naive = (
            timezone.make_naive(self.cleaned_data["send_at"])
            if timezone.is_aware(self.cleaned_data["send_at"])
            else self.cleaned_data["send_at"]
        )
        try:
            zone = ZoneInfo(self.cleaned_data["zone"])
        except ZoneInfoNotFoundError:
            zone = ZoneInfo("UTC")
        return naive.replace(tzinfo=zone)


@admin.register(Digest)
class DigestAdmin(admin.ModelAdmin[Digest]):
    form = DigestForm
    change_form_template = "admin/newsletters/digest/change_form.html"
    list_display = ["__str__", "mailing_list", "state", "send_at", "story_count", "created_by"]
    list_filter = ["state", "mailing_list"]
    search_fields = ["subject"]
    date_hierarchy = "send_at"
    inlines = [DigestStoryInline]
    readonly_fields = [
        "state",
        "send_at",
        "presend_checks",
        "delivery_progress",
        "created_by",
        "approved_by",
        "scheduled_by",
        "scheduled_at",
        "sent_at",
        "edition_of",
    ]
    fieldsets = [
        (None, {"fields": ["mailing_list", "subject", "preheader", "intro"]}),
        (
            "Status",
            {
                "fields": [
                    "state",
                    "send_at",
                    "presend_checks",
                    "delivery_progress",
                    "edition_of",
                    "created_by",
                    "approved_by",
                    "scheduled_by",
                    "scheduled_at",
                    "sent_at",
                ]
            },
        ),
    ]

    @admin.display(description="Stories")
    def story_count(self, obj: Digest) -> int:
        return obj.items.count()

    @admin.display(description="Pre-send checks")
    def presend_checks(self, obj: Digest) -> str:
        if obj.pk is None:
            return "Save the digest to run the checks."
        results = checks.digest_checks(digest=obj)
        return format_html(
            "<ul style='margin:0;padding-left:1.2em'>{}</ul>",
            format_html_join(
                "", "<li>{} {}</li>", ((("✔" if c.ok else "✘"), c.message) for c in results)
            ),
        )

    @admin.display(description="Delivery")
    def delivery_progress(self, obj: Digest) -> str:
        if obj.pk is None or obj.snapshot_at is None:
            return "Not started."
        return format_html(
            '<div id="delivery-progress" data-url="{}">{}</div>',
            reverse("admin:newsletters_digest_progress", args=[obj.pk]),
            _progress_text(obj),
        )

    def has_change_permission(self, request: HttpRequest, obj: Digest | None = None) -> bool:
        if obj is not None and not obj.is_editable:
            return False  # locked once sending starts
        return super().has_change_permission(request, obj)

    def save_model(
        self, request: HttpRequest, obj: Digest, form: forms.ModelForm[Digest], change: bool
    ) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        buttons = [
            ("preview", self.preview_view),
            ("preview/html", self.preview_html_view),
            ("test", self.test_send_view),
            ("fill", self.fill_view),
            ("schedule", self.schedule_view),
            ("unschedule", self.unschedule_view),
            ("progress", self.progress_view),
        ]
        return [
            *(
                path(
                    f"<int:pk>/{route}/",
                    view(handler),
                    name=f"newsletters_digest_{route.replace('/', '_')}",
                )
                for route, handler in buttons
            ),
            path(
                "<int:pk>/control/<str:action>/",
                view(self.control_view),
                name="newsletters_digest_control",
            ),
            *super().get_urls(),
        ]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Digest | None = None,
    ) -> HttpResponse:
        context["schedule_form"] = ScheduleForm()
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- Buttons ---

    def _digest(self, request: HttpRequest, pk: int, *, change: bool) -> Digest:
        digest = get_object_or_404(Digest.objects.select_related("mailing_list"), pk=pk)
        allowed = (
            self.has_change_permission(request, digest)
            if change
            else self.has_view_permission(request, digest)
        )
        if not allowed:
            raise PermissionDenied
        return digest

    def _back(self, digest: Digest) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:newsletters_digest_change", args=[digest.pk]))

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        digest = self._digest(request, pk, change=False)
        preview = proofs.digest_preview(digest=digest)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview: {preview.subject or '(no subject)'}",
            "opts": self.opts,
            "original": digest,
            "preview": preview,
            "html_url": reverse("admin:newsletters_digest_preview_html", args=[digest.pk]),
        }
        return TemplateResponse(request, "admin/newsletters/digest/preview.html", context)

    @xframe_options_sameorigin
    def preview_html_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        digest = self._digest(request, pk, change=False)
        response = HttpResponse(proofs.digest_preview(digest=digest).html)
        response["Content-Security-Policy"] = (
            "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline'"
        )
        return response

    def test_send_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        digest = self._digest(request, pk, change=False)
        email = getattr(request.user, "email", "")
        if not email:
            messages.error(
                request, "Your staff account has no email address: add one to receive test copies."
            )
            return self._back(digest)
        from newsletters.tasks import send_test_digest

        name = getattr(request.user, "first_name", "")
        transaction.on_commit(lambda: send_test_digest.delay(digest.pk, email, name))
        messages.success(
            request, f"A test copy is on its way to {email} (subject starts with [TEST])."
        )
        return self._back(digest)

    def fill_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        digest = self._digest(request, pk, change=True)
        from newsletters import composing

        try:
            count = composing.digest_fill_from_featured(digest=digest)
        except composing.DigestLocked as locked:
            messages.error(request, str(locked))
        else:
            if count:
                messages.success(
                    request, f"Filled with {count} featured stories since the last issue."
                )
            else:
                messages.warning(
                    request, "No featured stories since the last issue that this list has not had."
                )
        return self._back(digest)

    def schedule_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        digest = self._digest(request, pk, change=True)
        form = ScheduleForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Pick a date and time to send at.")
            return self._back(digest)
        user = request.user if isinstance(request.user, User) else None
        try:
            scheduled = scheduling.digest_schedule(
                digest_id=digest.pk, send_at=form.send_at_aware(), by=user
            )
        except scheduling.DigestNotReady as not_ready:
            messages.error(request, "Not scheduled. Fix first: " + " ".join(not_ready.problems))
        except scheduling.DigestStateError as wrong_state:
            messages.error(request, str(wrong_state))
        else:
            messages.success(
                request, f"Scheduled for {timezone.localtime(scheduled.send_at):%Y-%m-%d %H:%M %Z}."
            )
        return self._back(digest)

    def unschedule_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        digest = self._digest(request, pk, change=False)
        try:
            scheduling.digest_unschedule(digest_id=digest.pk, by=None)
        except scheduling.DigestStateError as wrong_state:
            messages.error(request, str(wrong_state))
        else:
            messages.success(request, "Unscheduled: the digest is a draft again.")
        return self._back(digest)

    def progress_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Counts for the change page's progress bar, polled while the digest is sending."""
        digest = self._digest(request, pk, change=False)
        counts = progress.digest_counts(digest_id=digest.pk)
        return JsonResponse(
            {"state": digest.state, "counts": counts, "text": _progress_text(digest)}
        )

    def control_view(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        digest = self._digest(request, pk, change=False)
        user = request.user if isinstance(request.user, User) else None
        try:
            if action == "pause":
                controls.digest_pause(digest_id=digest.pk, by=user)
            elif action == "resume":
                controls.digest_resume(digest_id=digest.pk, by=user)
            elif action == "cancel":
                controls.digest_cancel(digest_id=digest.pk, by=user)
            elif action == "resend":
                count = controls.digest_resend_failed(digest_id=digest.pk, by=user)
                messages.success(
                    request, f"Sending again to {count} reader(s) whose delivery failed."
                )
                return self._back(digest)
            else:
                return HttpResponse(status=404)
        except controls.ControlRefused as refused:
            messages.error(request, str(refused))
        else:
            done = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[action]
            messages.success(request, f"Digest {done}.")
        return self._back(digest)


def _progress_text(digest: Digest) -> str:
    counts = progress.digest_counts(digest_id=digest.pk)
    owed = counts["pending"] + counts["sending"]
    text = (
        f"{counts['sent']} sent · {counts['failed']} failed · {counts['skipped']} skipped · "
        f"{owed} to go, of {counts['total']}"
    )
    duplicates = progress.digest_possible_duplicates(digest_id=digest.pk)
    if duplicates:
        text += f" · {duplicates} may have had it twice (a worker died mid-send)"
    if digest.state == Digest.State.SENDING and owed:
        rate = progress.digest_send_rate(digest_id=digest.pk)
        if rate > 0:
            minutes = owed / rate / 60
            text += f" · {rate:.1f}/s, about {max(1, round(minutes))} min to go"
    return text
