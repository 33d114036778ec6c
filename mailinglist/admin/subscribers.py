"""Subscribers in admin: search, filters, history, staff actions, CSV export, import entry."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR, SEARCH_VAR
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit.admin_logging import AuditedAdmin
from audit.records import audit_record
from mailinglist import csvfiles, imports, preferences, subscriptions
from mailinglist.addresses import name_clean
from mailinglist.admin.consent import ConsentWordingShown
from mailinglist.admin.import_jobs import IMPORT_PERMISSION, ImportUploadForm
from mailinglist.admin.subscriber_filters import (
    SubscriptionListFilter,
    SubscriptionSourceFilter,
    SubscriptionStateFilter,
)
from mailinglist.models import (
    ConsentEvent,
    Subscriber,
    Subscription,
)
from operations.admin_permissions import ActionsNeedPermission

State = Subscription.State
EXPORT_PERMISSION = "mailinglist.export_subscribers"


# --- Subscribers -------------------------------------------------------------------------------


class _ReadOnlyInline:
    """An inline that shows rows and never changes them: consent changes only through the
    domain functions that record them."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Subscriber | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SubscriptionInline(_ReadOnlyInline, admin.TabularInline[Subscription, Subscriber]):
    model = Subscription
    fields = readonly_fields = (
        "mailing_list",
        "state",
        "source",
        "requested_at",
        "confirmed_at",
        "unsubscribed_at",
    )
    verbose_name_plural = _("Subscriptions (change them with the actions on the subscriber list)")


class ConsentEventInline(
    ConsentWordingShown, _ReadOnlyInline, admin.TabularInline[ConsentEvent, Subscriber]
):
    """The history of what this person agreed to: append-only, so nothing here can change."""

    model = ConsentEvent
    fields = readonly_fields = (
        "at",
        "kind",
        "lists",
        "ip",
        "user_agent",
        "source_url",
        "consent_wording",
        "detail",
    )
    verbose_name_plural = _("Consent history")


class SubscriberForm(forms.ModelForm[Subscriber]):
    class Meta:
        model = Subscriber
        fields = ["name"]

    def clean_name(self) -> str:
        return name_clean(self.cleaned_data.get("name"))


@admin.register(Subscriber)
class SubscriberAdmin(AuditedAdmin[Subscriber], ActionsNeedPermission[Subscriber]):
    form = SubscriberForm
    list_display = ["email", "name", "subscription_summary", "created_at"]
    search_fields = ["email", "name"]
    list_filter = [
        SubscriptionStateFilter,
        SubscriptionListFilter,
        SubscriptionSourceFilter,
        ("created_at", admin.DateFieldListFilter),
    ]
    # Facet counts re-run every filter for every choice: too slow on a big audience, and they
    # would not know that the subscription filters combine.
    show_facets = admin.ShowFacets.NEVER
    fields = ["email", "name", "paused_until", "created_at"]
    # A pause is the reader's choice, recorded as a consent event by the preference centre.
    readonly_fields = ["email", "paused_until", "created_at"]
    inlines = [SubscriptionInline, ConsentEventInline]
    actions = [
        "unsubscribe_everywhere",
        "resend_confirmation",
        "erase_selected",
        "export_selected",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscriber]:
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch(
                    "subscriptions",
                    queryset=Subscription.objects.select_related("mailing_list").order_by(
                        "mailing_list__name"
                    ),
                )
            )
        )

    @admin.display(description=_("Lists"))
    def subscription_summary(self, obj: Subscriber) -> str:
        return ", ".join(f"{s.mailing_list.slug}: {s.state}" for s in obj.subscriptions.all())

    # Subscribers arrive through signup, the API or an import, each of which records consent;
    # deleting one would skip the suppression that erasing leaves.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Subscriber | None = None) -> bool:
        return False

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("mailinglist.delete_subscriber"))

    def has_export_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(EXPORT_PERMISSION))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {
            "can_import": request.user.has_perm(IMPORT_PERMISSION),
            "can_export": self.has_export_permission(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=extra)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_view), name="mailinglist_subscriber_import"),
            path("export/", view(self.export_view), name="mailinglist_subscriber_export"),
            *super().get_urls(),
        ]

    # --- Actions ---

    @admin.action(description=_("Unsubscribe from all lists"), permissions=["change"])
    def unsubscribe_everywhere(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        people = left = 0
        for subscriber in queryset:
            lists = subscriptions.subscription_unsubscribe(
                subscriber=subscriber,
                list_ids=None,
                meta=subscriptions.RequestMeta(),
                method="staff",
            )
            detail: dict[str, object] = {"lists": [m.slug for m in lists]}
            audit_record(
                action="subscriber.unsubscribe", request=request, target=subscriber, detail=detail
            )
            people += bool(lists)
            left += len(lists)
        self.message_user(
            request,
            gettext("Unsubscribed %(people)d subscriber(s) from %(left)d subscription(s).")
            % {"people": people, "left": left},
        )

    @admin.action(description=_("Resend confirmation"), permissions=["change"])
    def resend_confirmation(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        asked = 0
        for subscriber in queryset:
            pending = [
                s.mailing_list_id
                for s in subscriber.subscriptions.all()
                if s.state == State.PENDING
            ]
            if pending:
                subscriptions.confirmation_resend(subscriber=subscriber, list_ids=pending)
                audit_record(
                    action="subscriber.resend_confirmation",
                    request=request,
                    target=subscriber,
                    detail={"list_ids": pending},
                )
                asked += 1
        self.message_user(
            request,
            gettext(
                "Confirmation requested for %(count)d subscriber(s) with pending subscriptions "
                "(at most one email per address per day; suppressed addresses get none)."
            )
            % {"count": asked},
        )

    @admin.action(description=_("Erase (GDPR) …"), permissions=["erase"])
    def erase_selected(
        self, request: HttpRequest, queryset: QuerySet[Subscriber]
    ) -> TemplateResponse | None:
        if request.POST.get("post") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": gettext("Erase these subscribers?"),
                "opts": self.opts,
                "queryset": queryset,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(
                request, "admin/mailinglist/subscriber/erase_confirmation.html", context
            )
        by = request.user.get_username()
        erased = 0
        for subscriber in queryset:
            with transaction.atomic():
                # Recorded first; the erasure then renames this entry too (by hash).
                audit_record(action="subscriber.erase", request=request, target=subscriber)
                preferences.subscriber_erase(
                    subscriber=subscriber, meta=subscriptions.RequestMeta(), by=by
                )
            erased += 1
        self.message_user(
            request,
            gettext(
                "Erased %(count)d subscriber(s). Only a hash of each address is kept, on the "
                "suppression list."
            )
            % {"count": erased},
            messages.SUCCESS,
        )
        return None

    @admin.action(description=_("Export selected as CSV"), permissions=["export"])
    def export_selected(
        self, request: HttpRequest, queryset: QuerySet[Subscriber]
    ) -> StreamingHttpResponse:
        detail: dict[str, object] = {"rows": queryset.count(), "selected": True}
        audit_record(action="subscriber.export", request=request, detail=detail)
        return _csv_response(queryset)

    def get_actions(self, request: HttpRequest) -> Any:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # --- CSV out ---

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """The changelist's rows as they are filtered and searched now, every page of them."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        if PAGE_VAR in request.GET:
            # The export is every page; the changelist would refuse a page number past the end.
            query = request.GET.copy()
            del query[PAGE_VAR]
            return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
        try:
            changelist = self.get_changelist_instance(request)
        except admin.options.IncorrectLookupParameters:
            url = reverse("admin:mailinglist_subscriber_changelist")
            return HttpResponseRedirect(f"{url}?{ERROR_FLAG}=1")
        # The filters but not the search: a search is often someone's address.
        filters = {key: value for key, value in request.GET.items() if key != SEARCH_VAR}
        detail = {
            "rows": changelist.result_count,
            "filters": filters,
            "searched": bool(request.GET.get(SEARCH_VAR)),
        }
        audit_record(action="subscriber.export", request=request, detail=detail)
        return _csv_response(changelist.queryset)

    # --- CSV in ---

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied
        if request.method == "POST":
            form = ImportUploadForm(request.POST, request.FILES)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    job = imports.import_job_create(
                        mailing_list=data["mailing_list"],
                        text=form.text,
                        file_name=data["file"].name or "upload.csv",
                        is_consented=data["is_consented"],
                        consent_note=data["consent_note"],
                        uploaded_by=request.user if isinstance(request.user, User) else None,
                    )
                except csvfiles.CsvFormatError as exc:
                    form.add_error("file", str(exc))
                else:
                    imports.import_job_preview(job=job)
                    detail = {"list": job.mailing_list.slug, "rows": job.total_rows}
                    audit_record(action="import.upload", request=request, target=job, detail=detail)
                    return HttpResponseRedirect(
                        reverse("admin:mailinglist_importjob_change", args=[job.pk])
                    )
        else:
            form = ImportUploadForm(initial={"mailing_list": request.GET.get("list")})
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Import subscribers from a CSV file"),
            "opts": self.opts,
            "form": form,
            "max_upload": filesizeformat(csvfiles.MAX_UPLOAD_BYTES),
        }
        return TemplateResponse(request, "admin/mailinglist/subscriber/import_form.html", context)


def _csv_response(queryset: QuerySet[Subscriber]) -> StreamingHttpResponse:
    # Streamed: an export of the whole audience never sits in memory at once.
    response = StreamingHttpResponse(
        csvfiles.subscribers_csv_export(queryset=queryset), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="subscribers-{stamp}.csv"'
    return response
