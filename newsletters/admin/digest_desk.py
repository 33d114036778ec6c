"""The digest page's send desk: the buttons an editor presses, each a POST to a small view.

Every view checks the permission its role needs (Editor: fill, test send; Publisher: schedule,
send now, approve, pause, resume, cancel, resend), calls one domain function, records the action
in the audit trail and goes back to the digest with a message. The desk is rendered outside the
admin's own <form>: a form inside a form is dropped by browsers, which is how these buttons once
did nothing in Chromium while every test-client test passed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.clickjacking import xframe_options_sameorigin

from audit.records import audit_record
from mailinglist import audience
from newsletters import composing, proofs, scheduling
from newsletters.admin.desk_forms import ScheduleForm, TestSendForm, first_error
from newsletters.delivery import controls, progress
from newsletters.markdown import markdown_html, markdown_source_clean
from newsletters.models import Digest

State = Digest.State


def _user(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


class DigestDeskMixin:
    """Views and context of the send desk, mixed into DigestAdmin."""

    admin_site: admin.AdminSite
    opts: Any

    # --- Who may press what -------------------------------------------------------------------

    def desk_permissions(self, request: HttpRequest, digest: Digest) -> dict[str, bool]:
        def can(codename: str) -> bool:
            return bool(request.user.has_perm(f"newsletters.{codename}"))

        editable = scheduling.digest_is_editable(digest=digest)
        user = _user(request)
        return {
            "fill": can("change_digest") and editable,
            "test": can("change_digest"),
            "schedule": can("schedule_digest") and editable,
            "approve": can("approve_digest")
            and digest.state == State.AWAITING_APPROVAL
            and (user is None or digest.scheduled_by_id != user.pk),
            "control": can("control_digest"),
        }

    def _digest_for(self, request: HttpRequest, pk: int, *, needs: str) -> Digest:
        digest = get_object_or_404(Digest.objects.select_related("mailing_list"), pk=pk)
        if needs == "view":
            allowed = bool(request.user.has_perm("newsletters.view_digest"))
        else:
            allowed = self.desk_permissions(request, digest)[needs]
        if not allowed:
            raise PermissionDenied
        return digest

    def _back(self, digest: Digest) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:newsletters_digest_change", args=[digest.pk]))

    # --- Context for the change page ----------------------------------------------------------

    def desk_context(self, request: HttpRequest, digest: Digest) -> dict[str, Any]:
        zone = digest.send_zone or digest.mailing_list.default_timezone or "UTC"
        seeds = proofs.seed_addresses(mailing_list=digest.mailing_list)
        return {
            "desk": self.desk_permissions(request, digest),
            "schedule_form": ScheduleForm(initial={"zone": zone}),
            "send_time": scheduling.send_time_label(digest=digest),
            "second_person": scheduling.digest_needs_second_person(digest=digest),
            "seed_count": len(seeds),
            "progress": progress.digest_progress_report(digest=digest)
            if digest.snapshot_at
            else None,
        }

    # --- Views ---------------------------------------------------------------------------------

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        digest = self._digest_for(request, pk, needs="view")
        preview = proofs.digest_preview(digest=digest)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Preview: %(subject)s")
            % {"subject": preview.subject or gettext("(no subject)")},
            "opts": self.opts,
            "original": digest,
            "preview": preview,
            "html_url": reverse("admin:newsletters_digest_preview_html", args=[digest.pk]),
        }
        return TemplateResponse(request, "admin/newsletters/digest/preview.html", context)

    @xframe_options_sameorigin
    def preview_html_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        digest = self._digest_for(request, pk, needs="view")
        response = HttpResponse(proofs.digest_preview(digest=digest).html)
        response["Content-Security-Policy"] = (
            "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline'"
        )
        return response

    def intro_preview_view(self, request: HttpRequest) -> HttpResponse:
        """The Markdown intro as it will read, for the preview beside the text box."""
        if request.method != "POST":
            return HttpResponse(status=405)
        if not request.user.has_perm("newsletters.change_digest") and not request.user.has_perm(
            "newsletters.add_digest"
        ):
            raise PermissionDenied
        text = markdown_source_clean(request.POST.get("text", ""))
        return JsonResponse({"html": markdown_html(text)})

    def test_send_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        digest = self._digest_for(request, pk, needs="test")
        form = TestSendForm(request.POST)
        to = form.cleaned_data["to"] if form.is_valid() else "me"
        if to == "seed":
            addresses = proofs.seed_addresses(mailing_list=digest.mailing_list)
            if not addresses:
                messages.error(
                    request,
                    gettext(
                        "%(list)s has no seed list yet: add colleagues' addresses to the list "
                        "(Mailing lists → the list → Seed addresses)."
                    )
                    % {"list": digest.mailing_list},
                )
                return self._back(digest)
        else:
            email = getattr(request.user, "email", "")
            if not email:
                messages.error(
                    request,
                    gettext("Your staff account has no email address: add one to receive tests."),
                )
                return self._back(digest)
            addresses = [email]
        from newsletters.tasks import send_test_digest

        name = getattr(request.user, "first_name", "") if to == "me" else ""
        for address in addresses:
            transaction.on_commit(
                lambda address=address: send_test_digest.delay(digest.pk, address, name)  # type: ignore[misc]
            )
        audit_record(
            action="digest.test_send", request=request, target=digest, detail={"to": addresses}
        )
        if to == "me":
            # Translators: [TEST] is what the test copy's subject starts with; keep it as it is.
            sent = gettext("A test copy is on its way to %(address)s (subject starts [TEST]).") % {
                "address": addresses[0]
            }
        else:
            # Translators: [TEST] is what the test copy's subject starts with; keep it as it is.
            sent = gettext(
                "A test copy is on its way to the seed list (%(count)d addresses) "
                "(subject starts [TEST])."
            ) % {"count": len(addresses)}
        messages.success(request, sent)
        return self._back(digest)

    def fill_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        digest = self._digest_for(request, pk, needs="fill")
        try:
            count = composing.digest_fill_from_featured(digest=digest)
        except composing.DigestLocked as locked:
            messages.error(request, str(locked))
            return self._back(digest)
        audit_record(action="digest.fill", request=request, target=digest, detail={"added": count})
        if count:
            messages.success(
                request,
                gettext("Filled with %(count)d featured stories since the last issue.")
                % {"count": count},
            )
        else:
            messages.warning(
                request,
                gettext("No featured stories since the last issue that this list has not had."),
            )
        return self._back(digest)

    def schedule_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        digest = self._digest_for(request, pk, needs="schedule")
        form = ScheduleForm(request.POST)
        if not form.is_valid():
            messages.error(request, first_error(form))
            return self._back(digest)
        return self._scheduled(
            request,
            digest,
            lambda: scheduling.digest_schedule(
                digest_id=digest.pk,
                send_at=form.send_at_aware(),
                by=_user(request),
                zone=form.cleaned_data["zone"],
            ),
            action="digest.schedule",
        )

    def send_now_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET: "Send … now to N readers of L?"; POST: send it."""
        digest = self._digest_for(request, pk, needs="schedule")
        if request.method == "POST":
            return self._scheduled(
                request,
                digest,
                lambda: scheduling.digest_send_now(digest_id=digest.pk, by=_user(request)),
                action="digest.send_now",
            )
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Send now?"),
            "opts": self.opts,
            "original": digest,
            "reader_count": audience.audience_count(mailing_list_id=digest.mailing_list_id),
            "second_person": scheduling.digest_needs_second_person(digest=digest),
        }
        return TemplateResponse(request, "admin/newsletters/digest/send_now.html", context)

    def _scheduled(
        self,
        request: HttpRequest,
        digest: Digest,
        schedule: Callable[[], Digest],
        *,
        action: str,
    ) -> HttpResponse:
        try:
            scheduled = schedule()
        except scheduling.DigestNotReady as not_ready:
            messages.error(
                request,
                gettext("Not scheduled. Fix first: %(problems)s")
                % {"problems": " ".join(not_ready.problems)},
            )
            return self._back(digest)
        except scheduling.DigestStateError as wrong_state:
            messages.error(request, str(wrong_state))
            return self._back(digest)
        when = scheduling.send_time_label(digest=scheduled)
        audit_record(
            action=action,
            request=request,
            target=scheduled,
            detail={"send_at": when, "state": scheduled.state},
        )
        if scheduled.state == State.AWAITING_APPROVAL:
            messages.success(
                request,
                gettext(
                    "Waiting for a second Publisher's approval (two-person rule on %(list)s); "
                    "it will go out %(when)s or as soon as it is approved."
                )
                % {"list": digest.mailing_list, "when": when},
            )
        elif action == "digest.send_now":
            messages.success(
                request, gettext("Sending now: the progress below updates as it goes.")
            )
        else:
            messages.success(request, gettext("Scheduled for %(when)s.") % {"when": when})
        return self._back(digest)

    def approve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        digest = self._digest_for(request, pk, needs="approve")
        user = _user(request)
        if user is None:
            raise PermissionDenied
        try:
            approved = scheduling.digest_approve(digest_id=digest.pk, by=user)
        except (scheduling.DigestNotReady, scheduling.DigestStateError) as refused:
            messages.error(request, str(refused))
            return self._back(digest)
        except scheduling.ApprovalRefused as refused:
            messages.error(request, str(refused))
            return self._back(digest)
        audit_record(action="digest.approve", request=request, target=approved)
        messages.success(
            request,
            gettext("Approved: scheduled for %(when)s.")
            % {"when": scheduling.send_time_label(digest=approved)},
        )
        return self._back(digest)

    def unschedule_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        digest = get_object_or_404(Digest.objects.select_related("mailing_list"), pk=pk)
        # Taking a digest back is the scheduler's right; sending it back unapproved the approver's.
        rejecting = digest.state == State.AWAITING_APPROVAL
        perms = ["newsletters.schedule_digest"]
        if rejecting:
            perms.append("newsletters.approve_digest")
        if not any(request.user.has_perm(p) for p in perms):
            raise PermissionDenied
        try:
            scheduling.digest_unschedule(digest_id=digest.pk, by=_user(request))
        except scheduling.DigestStateError as wrong_state:
            messages.error(request, str(wrong_state))
            return self._back(digest)
        audit_record(
            action="digest.reject" if rejecting else "digest.unschedule",
            request=request,
            target=digest,
        )
        messages.success(
            request, gettext("Back to draft: it will not go out until scheduled again.")
        )
        return self._back(digest)

    def report_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        from newsletters.admin.reports import digest_report_view

        return digest_report_view(request, self._digest_for(request, pk, needs="view"))

    def report_csv_view(self, request: HttpRequest, pk: int) -> HttpResponseBase:
        from newsletters.admin.reports import digest_ledger_csv_view

        digest = self._digest_for(request, pk, needs="view")
        response = digest_ledger_csv_view(request, digest)  # refuses those who may not export
        audit_record(action="digest.export_ledger", request=request, target=digest)
        return response

    def progress_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Counts, rate and time to go, polled by the desk while the digest is going out."""
        digest = self._digest_for(request, pk, needs="view")
        return JsonResponse(progress.digest_progress_report(digest=digest))

    def control_view(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        if action not in {"pause", "resume", "cancel", "resend"}:
            return HttpResponse(status=404)
        digest = self._digest_for(request, pk, needs="control")
        user = _user(request)
        try:
            if action == "pause":
                controls.digest_pause(digest_id=digest.pk, by=user)
                done = gettext("Paused: no more messages go out until you resume.")
            elif action == "resume":
                controls.digest_resume(digest_id=digest.pk, by=user)
                done = gettext("Resumed.")
            elif action == "cancel":
                controls.digest_cancel(digest_id=digest.pk, by=user)
                done = gettext("Cancelled: readers not yet sent to will not get it.")
            else:
                count = controls.digest_resend_failed(digest_id=digest.pk, by=user)
                done = gettext("Sending again to %(count)d reader(s) whose delivery failed.") % {
                    "count": count
                }
        except controls.ControlRefused as refused:
            messages.error(request, str(refused))
            return self._back(digest)
        audit_record(action=f"digest.{action}", request=request, target=digest)
        messages.success(request, done)
        return self._back(digest)
