"""Digests in admin: compose (ordered stories, Markdown intro with its preview), check, send.

The buttons of the send desk live in digest_desk.py; this module is the form and the page. Once
sending starts the digest is read-only and cannot be deleted: what readers get, and the record of
who got it, must not change under their feet.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit.admin_logging import AuditedAdmin
from newsletters import checks, scheduling
from newsletters.admin.digest_desk import DigestDeskMixin
from newsletters.digests import digest_create, digest_intro_clean
from newsletters.models import Digest, DigestStory
from operations.admin_permissions import ActionsNeedPermission


class MarkdownTextarea(forms.Textarea):
    """A Markdown box with the rendered intro beside it (digest_desk.js fills the preview)."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        box = super().render(
            name, value, {**(attrs or {}), "data-markdown-preview": "on"}, renderer
        )
        return format_html(
            '<div class="markdown-pair">{}<div class="markdown-preview" aria-live="polite" '
            'aria-label="{}"></div></div>',
            box,
            gettext("How readers will see it"),
        )


class DigestForm(forms.ModelForm[Digest]):
    class Meta:
        model = Digest
        fields = ["mailing_list", "subject", "preheader", "intro"]
        widgets = {"intro": MarkdownTextarea(attrs={"rows": 8})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.intro_format == Digest.IntroFormat.HTML:
            self.fields["intro"].help_text = gettext(
                "Written as HTML before intros were Markdown: simple HTML (links, emphasis) is "
                "kept, and Markdown works too."
            )

    def clean_intro(self) -> str:
        return digest_intro_clean(
            raw=self.cleaned_data.get("intro"), intro_format=self.instance.intro_format
        )


class DigestStoryInline(admin.TabularInline[DigestStory, Digest]):
    model = DigestStory
    fields = ["position", "story", "headline_override", "summary_override"]
    autocomplete_fields = ["story"]
    extra = 1
    ordering = ["position", "id"]
    formfield_overrides = {
        # Short boxes: the blurb is a sentence or two, and the table must fit a laptop screen.
        DigestStory._meta.get_field("summary_override").__class__: {
            "widget": forms.Textarea(attrs={"rows": 2, "cols": 32})
        },
    }

    # `obj` is the digest the inline belongs to: its stories change only while it may.
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if isinstance(obj, Digest) and not scheduling.digest_is_editable(digest=obj):
            return False
        return super().has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if isinstance(obj, Digest) and not scheduling.digest_is_editable(digest=obj):
            return False
        return super().has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if isinstance(obj, Digest) and not scheduling.digest_is_editable(digest=obj):
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Digest)
class DigestAdmin(DigestDeskMixin, AuditedAdmin[Digest], ActionsNeedPermission[Digest]):
    audit_noun = "digest"
    form = DigestForm
    change_form_template = "admin/newsletters/digest/change_form.html"
    list_display = ["__str__", "mailing_list", "state", "send_at", "story_count", "created_by"]
    list_filter = ["state", "mailing_list"]
    search_fields = ["subject"]
    date_hierarchy = "send_at"
    inlines = [DigestStoryInline]
    readonly_fields = [
        "state",
        "presend_checks",
        "created_by",
        "scheduled_by",
        "approved_by",
        "sent_at",
        "edition_of",
    ]
    fieldsets = [
        (None, {"fields": ["mailing_list", "subject", "preheader", "intro"]}),
        (
            _("Status"),
            {
                "fields": [
                    "state",
                    "presend_checks",
                    "edition_of",
                    "created_by",
                    "scheduled_by",
                    "approved_by",
                    "sent_at",
                ]
            },
        ),
    ]

    @admin.display(description=_("Stories"))
    def story_count(self, obj: Digest) -> int:
        return obj.items.count()

    @admin.display(description=_("Pre-send checks"))
    def presend_checks(self, obj: Digest) -> str:
        if obj.pk is None:
            return gettext("Save the digest to run the checks.")
        results = checks.digest_checks(digest=obj)
        return format_html(
            "<ul class='presend-checks'>{}</ul>",
            format_html_join(
                "",
                "<li class='{}'>{} {}</li>",
                (_check_row(c) for c in results),
            ),
        )

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("mailing_list", "created_by")

    def has_change_permission(self, request: HttpRequest, obj: Digest | None = None) -> bool:
        if obj is not None and not scheduling.digest_is_editable(digest=obj):
            return False  # locked once sending starts (or, two-person rule, once asked for)
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Digest | None = None) -> bool:
        if obj is not None and obj.has_started:
            return False  # its ledger is the record of who got it
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> Any:
        # The bulk delete action would bypass has_delete_permission(obj) for digests that started.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(
        self, request: HttpRequest, obj: Digest, form: forms.ModelForm[Digest], change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # Created the one way every creator creates a digest; its stories come from the inline,
        # which save_related saves next against `obj`, so `obj` becomes the row just created.
        created = digest_create(
            mailing_list=obj.mailing_list,
            subject=obj.subject,
            preheader=obj.preheader,
            intro=obj.intro,
            intro_format=obj.intro_format,
            stories=[],
            created_by=request.user,  # type: ignore[arg-type]  # admin_view: a staff User
        )
        for model_field in Digest._meta.concrete_fields:
            setattr(obj, model_field.attname, getattr(created, model_field.attname))
        obj._state.adding = False
        obj._state.db = created._state.db

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        buttons = [
            ("preview", self.preview_view),
            ("preview/html", self.preview_html_view),
            ("test", self.test_send_view),
            ("fill", self.fill_view),
            ("schedule", self.schedule_view),
            ("send-now", self.send_now_view),
            ("approve", self.approve_view),
            ("unschedule", self.unschedule_view),
            ("progress", self.progress_view),
            ("report", self.report_view),
            ("report/csv", self.report_csv_view),
        ]
        return [
            path(
                "intro-preview/",
                view(self.intro_preview_view),
                name="newsletters_digest_intro_preview",
            ),
            *(
                path(
                    f"<int:pk>/{route}/",
                    view(handler),
                    name=f"newsletters_digest_{route.replace('/', '_').replace('-', '_')}",
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
        context["intro_preview_url"] = reverse("admin:newsletters_digest_intro_preview")
        if obj is not None and obj.pk is not None:
            context.update(self.desk_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)


def _check_row(check: checks.Check) -> tuple[str, str, str]:
    """(class, mark, message) of one pre-send check: ok, a warning that does not block, or fail."""
    if check.ok:
        return "ok", "✔", check.message
    return ("warn", "⚠", check.message) if check.is_warning else ("fail", "✘", check.message)
