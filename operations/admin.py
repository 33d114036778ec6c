from __future__ import annotations

from typing import Any

from axes.models import AccessFailureLog, AccessLog  # type: ignore[import-untyped]
from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit.admin_logging import AuditedAdmin
from operations.admin_permissions import ActionsNeedPermission
from operations.api_tokens import api_token_issue
from operations.dkim.dns_check import dkim_record_check
from operations.dkim.keygen import signing_key_create, signing_key_record
from operations.dkim.keys import domain_is_valid, selector_is_valid
from operations.dkim.selection import signers_forget
from operations.mailcheck import mail_check_create
from operations.models import ApiToken, MailCheck, SigningKey


@admin.register(MailCheck)
class MailCheckAdmin(AuditedAdmin[MailCheck], ActionsNeedPermission[MailCheck]):
    """Adding a mail check sends it; the list shows each outcome with its error, if any."""

    list_display = ["recipient", "state", "requested_at", "finished_at", "worker", "error"]
    list_filter = ["state"]
    fields = ["recipient"]
    audit_noun = "mail_check"
    audit_verbs = {"add": "send"}
    readonly_fields = ["requested_by", "state", "finished_at", "message_id", "worker", "error"]

    def get_fields(self, request: HttpRequest, obj: MailCheck | None = None) -> list[str]:  # type: ignore[override]
        return ["recipient"] if obj is None else ["recipient", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: MailCheck | None = None) -> list[str]:
        return [] if obj is None else ["recipient", *self.readonly_fields]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"recipient": getattr(request.user, "email", "")}

    def has_change_permission(self, request: HttpRequest, obj: MailCheck | None = None) -> bool:
        return False  # a check is a record of what happened; it is not edited

    def save_model(
        self, request: HttpRequest, obj: MailCheck, form: ModelForm[MailCheck], change: bool
    ) -> None:
        created = mail_check_create(recipient=obj.recipient, requested_by=request.user)  # type: ignore[arg-type]  # staff-only view: never anonymous
        obj.pk = created.pk
        obj.requested_at = created.requested_at


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdmin[ApiToken], ActionsNeedPermission[ApiToken]):
    """Creating one shows the token once; only its hash is kept. Superusers only: a token acts
    as its user, so handing them out is not part of any role."""

    list_display = ["user", "prefix", "created_at", "last_used_at"]
    fields = ["user"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    audit_noun = "token"
    audit_verbs = {"add": "issue", "delete": "revoke"}

    def audit_detail(self, request: HttpRequest, obj: ApiToken) -> dict[str, object]:
        return {"user": obj.user.get_username()}

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False  # replace a token by creating a new one for the user

    def save_model(
        self, request: HttpRequest, obj: ApiToken, form: ModelForm[ApiToken], change: bool
    ) -> None:
        token = api_token_issue(user=obj.user)
        saved = ApiToken.objects.get(user=obj.user)
        obj.pk, obj.token_hash, obj.prefix = saved.pk, saved.token_hash, saved.prefix
        messages.warning(
            request,
            gettext("API token for %(user)s: %(token)s — copy it now, it will not be shown again.")
            % {"user": obj.user, "token": token},
        )


class SigningKeyForm(forms.ModelForm[SigningKey]):
    class Meta:
        model = SigningKey
        fields = ["domain", "selector", "algorithm"]

    def clean_domain(self) -> str:
        domain = str(self.cleaned_data["domain"]).strip().rstrip(".").lower()
        if not domain_is_valid(domain):
            raise forms.ValidationError(gettext("Enter a domain name, such as news.example.com."))
        if SigningKey.objects.filter(domain=domain).exists():
            raise forms.ValidationError(
                gettext(
                    "This domain has a key already. To replace it, publish the new record under "
                    "a new selector first, then delete the old key and add the new one."
                )
            )
        return domain

    def clean_selector(self) -> str:
        selector = str(self.cleaned_data["selector"]).strip()
        if not selector_is_valid(selector):
            raise forms.ValidationError(
                gettext("One DNS label: letters, digits and '-' (newsdesk1).")
            )
        return selector


DNS_STATUS = {
    "match": _("✔ Published and matching: receivers can verify the signatures."),
    "mismatch": _(
        "✘ A different key is published at this name: signatures fail until the record above "
        "replaces it."
    ),
    "missing": _("✘ Not published yet: add the TXT record above in DNS."),
    "unknown": _("? Unknown: DNS did not answer from this server; check again later."),
}


@admin.register(SigningKey)
class SigningKeyAdmin(AuditedAdmin[SigningKey], ActionsNeedPermission[SigningKey]):
    """Adding one generates the key (never shown); its page shows the DNS record and whether
    DNS publishes it. Not editable: a key is replaced by a new one under a new selector."""

    form = SigningKeyForm
    list_display = ["domain", "selector", "algorithm", "created_at"]
    audit_noun = "signing_key"
    readonly_fields = ["created_at", "dns_record_name", "dns_record_value", "dns_status"]

    def get_fields(self, request: HttpRequest, obj: SigningKey | None = None) -> list[str]:  # type: ignore[override]
        fields = ["domain", "selector", "algorithm"]
        return fields if obj is None else [*fields, *self.readonly_fields]

    def has_change_permission(self, request: HttpRequest, obj: SigningKey | None = None) -> bool:
        return False  # editing the domain or selector would unpublish the key's record

    @admin.display(description=_("DNS record name (TXT)"))
    def dns_record_name(self, obj: SigningKey) -> str:
        return signing_key_record(signing_key=obj).name

    @admin.display(description=_("DNS record value"))
    def dns_record_value(self, obj: SigningKey) -> str:
        return format_html(
            "<code class='dkim-record' style='word-break: break-all'>{}</code>",
            signing_key_record(signing_key=obj).value,
        )

    @admin.display(description=_("DNS check"))
    def dns_status(self, obj: SigningKey) -> str:
        status = dkim_record_check(
            domain=obj.domain,
            selector=obj.selector,
            public_record=signing_key_record(signing_key=obj).value,
        )
        return format_html("<span class='dkim-dns-{}'>{}</span>", status, DNS_STATUS[status])

    def save_model(
        self, request: HttpRequest, obj: SigningKey, form: ModelForm[SigningKey], change: bool
    ) -> None:
        # The form has checked domain and selector (and that the domain has no key yet).
        created = signing_key_create(
            domain=obj.domain,
            selector=obj.selector,
            algorithm=obj.algorithm,  # type: ignore[arg-type]  # one of the form's choices
        )
        obj.pk, obj.private_key_pem, obj.created_at = (
            created.pk,
            created.private_key_pem,
            created.created_at,
        )

    def response_add(
        self, request: HttpRequest, obj: SigningKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        # Straight to the record to publish: the one thing to do next.
        messages.success(
            request,
            gettext("Key made for %(domain)s. Publish the TXT record below.")
            % {"domain": obj.domain},
        )
        return HttpResponseRedirect(reverse("admin:operations_signingkey_change", args=[obj.pk]))

    def delete_model(self, request: HttpRequest, obj: SigningKey) -> None:
        super().delete_model(request, obj)
        signers_forget()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[SigningKey]) -> None:
        super().delete_queryset(request, queryset)
        signers_forget()


# django-axes' lockouts are under Axes → Access attempts (deleting one lifts it). Its login logs
# are off (AXES_DISABLE_ACCESS_LOG: a row per staff login would grow forever, and the audit trail
# records what staff do), so their empty pages are not offered.
admin.site.unregister([AccessLog, AccessFailureLog])
