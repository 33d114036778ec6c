"""CSV imports in admin: the upload form, the preview and the job page with its progress bar."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit.admin_logging import AuditedAdmin
from audit.records import audit_record
from mailinglist import csvfiles, imports
from mailinglist.models import (
    ImportJob,
    MailingList,
    Subscription,
)
from operations.admin_permissions import ActionsNeedPermission

State = Subscription.State
IMPORT_PERMISSION = "mailinglist.add_importjob"


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("A header row with an “email” column and optionally “name”; UTF-8."),
    )
    mailing_list = forms.ModelChoiceField(
        queryset=MailingList.objects.order_by("name"),
        label=_("Add them to"),
        to_field_name="slug",
    )
    is_consented = forms.BooleanField(
        required=False,
        label=_("These people already consented to this list"),
        help_text=_(
            "Ticked: they are subscribed at once and your note is kept as the record of their "
            "consent. Not ticked: each gets a confirmation email and is subscribed only after "
            "confirming."
        ),
    )
    consent_note = forms.CharField(
        required=False,
        max_length=500,
        label=_("How and when they agreed"),
        help_text=_("E.g. “Ticked the newsletter box at the 2024 reader survey, March 2024”."),
        widget=forms.TextInput(attrs={"size": 80}),
    )

    text = ""

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > csvfiles.MAX_UPLOAD_BYTES:
            raise ValidationError(
                gettext(
                    "This file is %(size)s; the limit is %(limit)s. Split it, or ask an operator "
                    "to run manage.py import_subscribers with it."
                )
                % {
                    "size": filesizeformat(upload.size),
                    "limit": filesizeformat(csvfiles.MAX_UPLOAD_BYTES),
                }
            )
        try:
            self.text = csvfiles.csv_text_decode(data=upload.read())
            csvfiles.csv_layout_read(text=self.text)
        except csvfiles.CsvFormatError as exc:
            raise ValidationError(str(exc)) from None
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        note = (cleaned.get("consent_note") or "").strip()
        cleaned["consent_note"] = note
        if cleaned.get("is_consented") and not note:
            self.add_error(
                "consent_note",
                gettext(
                    "Say how and when these people agreed: it is the only record of their consent."
                ),
            )
        return cleaned


# --- Import jobs ---------------------------------------------------------------------------------


@admin.register(ImportJob)
class ImportJobAdmin(AuditedAdmin[ImportJob], ActionsNeedPermission[ImportJob]):
    """Past and running imports; a job's page is its preview, then its progress and report."""

    list_display = [
        "__str__",
        "mailing_list",
        "state",
        "total_rows",
        "imported_count",
        "invalid_count",
        "uploaded_by",
        "created_at",
    ]
    list_filter = ["state", "mailing_list"]
    list_select_related = ["mailing_list", "uploaded_by"]
    audit_noun = "import"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImportJob]:
        return super().get_queryset(request).defer("content")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(IMPORT_PERMISSION))

    def has_change_permission(self, request: HttpRequest, obj: ImportJob | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ImportJob | None = None) -> bool:
        # A job being imported stays until it ends; afterwards deleting it removes its report.
        if obj is not None and obj.state in {ImportJob.State.QUEUED, ImportJob.State.RUNNING}:
            return False
        return super().has_delete_permission(request, obj)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:job_id>/start/",
                view(self.start_view),
                name="mailinglist_importjob_start",
            ),
            path(
                "<int:job_id>/progress/",
                view(self.progress_view),
                name="mailinglist_importjob_progress",
            ),
            *super().get_urls(),
        ]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:mailinglist_subscriber_import"))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        job = self.get_object(request, object_id)
        if job is None:
            raise Http404("No such import.")
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        sample: list[csvfiles.ParsedRow] = []
        if job.state == ImportJob.State.PREVIEWED:
            content = ImportJob.objects.values_list("content", flat=True).get(pk=job.pk)
            sample = csvfiles.csv_rows_sample(text=content)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Import of %(file)s") % {"file": job.file_name},
            "opts": self.opts,
            "job": job,
            "sample": sample,
            "max_errors": imports.MAX_REPORTED_ERRORS,
            "can_start": request.user.has_perm(IMPORT_PERMISSION),
            "progress_url": reverse("admin:mailinglist_importjob_progress", args=[job.pk]),
            "start_url": reverse("admin:mailinglist_importjob_start", args=[job.pk]),
        }
        return TemplateResponse(request, "admin/mailinglist/importjob/job.html", context)

    def start_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied
        if imports.import_job_start(job_id=job_id):
            job = self.get_queryset(request).select_related("mailing_list").get(pk=job_id)
            audit_record(action="import.start", request=request, target=job, detail=_facts(job))
            self.message_user(request, gettext("The import has started."), messages.SUCCESS)
        else:
            self.message_user(
                request, gettext("This import had already started."), messages.WARNING
            )
        return HttpResponseRedirect(reverse("admin:mailinglist_importjob_change", args=[job_id]))

    def progress_view(self, request: HttpRequest, job_id: int) -> JsonResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = self.get_queryset(request).filter(pk=job_id).first()
        if job is None:
            return JsonResponse({"detail": "No such import."}, status=404)
        return JsonResponse(_job_progress(job))


def _facts(job: ImportJob) -> dict[str, object]:
    """What the audit trail keeps about an import: where to, how many, and on what consent."""
    return {
        "list": job.mailing_list.slug,
        "rows": job.total_rows,
        "is_consented": job.is_consented,
    }


def _job_progress(job: ImportJob) -> dict[str, Any]:
    return {
        "id": job.pk,
        "state": job.state,
        "state_label": job.get_state_display(),
        "is_finished": job.is_finished,
        "percent": job.percent,
        "total_rows": job.total_rows,
        "processed_rows": job.processed_rows,
        "counts": {
            "imported": job.imported_count,
            "merged": job.merged_count,
            "duplicate": job.duplicate_count,
            "invalid": job.invalid_count,
            "suppressed": job.suppressed_count,
            "skipped_unsubscribed": job.skipped_unsubscribed_count,
        },
        # The report is complete only at the end; until then the page shows counts alone.
        "errors": job.errors if job.is_finished else [],
        "error": job.error,
    }
