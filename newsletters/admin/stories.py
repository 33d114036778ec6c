"""Stories and feeds in admin: thumbnails, filters, bulk featuring, and "Poll now" for feeds."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminURLFieldWidget
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit.admin_logging import AuditedAdmin
from audit.records import audit_record, audit_record_each
from newsletters import feeds, stories
from newsletters.models import Feed, Story
from newsletters.story_images import story_image_changed
from operations.admin_permissions import ActionsNeedPermission

# "Poll now" fetches inside the admin request: a few feeds with a short timeout keep it well
# under a web worker's timeout (gunicorn's default is 30 s).
POLL_NOW_LIMIT = 3
POLL_NOW_TIMEOUT = 8.0


def _url_field(**kwargs: Any) -> forms.CharField:
    # A CharField, not a URLField: story_validate/url_check judge addresses, so a javascript: or
    # ftp: URL gets their message ("must start with http:// or https://"), not a generic one.
    return forms.CharField(max_length=1000, widget=AdminURLFieldWidget, **kwargs)


# --- Stories -----------------------------------------------------------------------------------


class StoryForm(forms.ModelForm[Story]):
    """Cleaned by the same rules as every other source (story_validate): bad input becomes form
    errors, and what is saved is what the upsert would have stored (summary through nh3)."""

    url = _url_field(label=_("URL"), help_text=_("The article's address (http or https)."))
    image_url = _url_field(label=_("Image URL"), required=False)

    class Meta:
        model = Story
        fields = [
            "headline",
            "url",
            "summary",
            "image_url",
            "image_alt",
            "section",
            "byline",
            "published_at",
            "is_featured",
            "featured_until",
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        data = stories.StoryInput(
            url=cleaned.get("url") or "",
            headline=cleaned.get("headline") or "",
            summary=cleaned.get("summary") or "",
            image_url=cleaned.get("image_url") or "",
            image_alt=cleaned.get("image_alt") or "",
            section=cleaned.get("section") or "",
            byline=cleaned.get("byline") or "",
            published_at=cleaned.get("published_at"),
        )
        try:
            valid = stories.story_validate(data=data)
        except ValidationError as invalid:
            # story_validate says "field: problem"; each problem goes next to its field, once.
            for message in invalid.messages:
                name, _colon, problem = message.partition(": ")
                if name not in self.fields:
                    self.add_error(None, message)
                elif not self.has_error(name):
                    self.add_error(name, problem)
            return cleaned
        cleaned.update(valid)
        return cleaned


@admin.register(Story)
class StoryAdmin(AuditedAdmin[Story], ActionsNeedPermission[Story]):
    form = StoryForm
    list_display = ["thumbnail", "headline", "section", "source", "is_featured", "published_at"]
    list_display_links = ["thumbnail", "headline"]
    list_filter = [
        "is_featured",
        "section",
        "source",
        ("published_at", admin.DateFieldListFilter),
        "feed",
    ]
    # headline first: digests pick stories through autocomplete, which searches these fields.
    search_fields = ["headline", "url", "byline"]
    date_hierarchy = "published_at"
    readonly_fields = ["thumbnail", "image_size", "source", "feed", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["headline", "url", "summary", "section", "byline", "published_at"]}),
        (_("Image"), {"fields": ["image_url", "image_alt", "thumbnail", "image_size"]}),
        (_("Featuring"), {"fields": ["is_featured", "featured_until"]}),
        (_("Origin"), {"fields": ["source", "feed", "created_at", "updated_at"]}),
    ]
    actions = ["feature_selected", "unfeature_selected"]
    list_per_page = 50

    def save_model(self, request: HttpRequest, obj: Story, form: Any, change: bool) -> None:
        if "image_url" in form.changed_data:
            story_image_changed(obj)
        super().save_model(request, obj, form, change)

    @admin.display(description=_("Image size"))
    def image_size(self, obj: Story) -> str:
        if not obj.image_url:
            return ""
        if obj.image_width and obj.image_height:
            return f"{obj.image_width} × {obj.image_height} px"  # noqa: RUF001  (the sign editors read)
        # Read by a worker after the save: the digest's <img> gets its height from it.
        return gettext("Not read (yet): mail shows the image without a fixed height.")

    @admin.display(description=_("Image"))
    def thumbnail(self, obj: Story) -> SafeString | str:
        if not obj.image_url.lower().startswith(("https://", "http://")):
            return ""
        # no-referrer: the image host need not learn our admin's address.
        return format_html(
            '<img src="{}" alt="{}" width="64" height="40" loading="lazy" '
            'referrerpolicy="no-referrer" style="object-fit: cover">',
            obj.image_url,
            obj.image_alt,
        )

    @admin.action(description=_("Feature selected stories"), permissions=["change"])
    def feature_selected(self, request: HttpRequest, queryset: QuerySet[Story]) -> None:
        changed = stories.stories_feature(
            story_ids=list(queryset.values_list("pk", flat=True)), featured=True
        )
        audit_record_each(action="story.feature", request=request, targets=queryset)
        self.message_user(
            request,
            gettext("Featured %(count)d story(ies).") % {"count": changed},
            messages.SUCCESS,
        )

    @admin.action(description=_("Unfeature selected stories"), permissions=["change"])
    def unfeature_selected(self, request: HttpRequest, queryset: QuerySet[Story]) -> None:
        changed = stories.stories_feature(
            story_ids=list(queryset.values_list("pk", flat=True)), featured=False
        )
        audit_record_each(action="story.unfeature", request=request, targets=queryset)
        self.message_user(
            request,
            gettext("Unfeatured %(count)d story(ies).") % {"count": changed},
            messages.SUCCESS,
        )


# --- Feeds -------------------------------------------------------------------------------------


class FeedForm(forms.ModelForm[Feed]):
    url = _url_field(
        label=_("Feed URL"), help_text=_("The RSS or Atom feed's address (http or https).")
    )
    poll_interval_minutes = forms.IntegerField(
        min_value=1, max_value=24 * 60, initial=15, help_text=_("Minutes between polls.")
    )

    class Meta:
        model = Feed
        fields = [
            "url",
            "title",
            "section",
            "is_auto_feature",
            "poll_interval_minutes",
            "is_active",
        ]

    def clean_url(self) -> str:
        try:
            return stories.url_check(self.cleaned_data.get("url") or "")
        except ValidationError as invalid:
            raise ValidationError([m.partition(": ")[2] for m in invalid.messages]) from None


@admin.register(Feed)
class FeedAdmin(AuditedAdmin[Feed], ActionsNeedPermission[Feed]):
    form = FeedForm
    list_display = [
        "__str__",
        "section",
        "is_active",
        "is_auto_feature",
        "last_polled_at",
        "short_error",
        "error_count",
        "next_poll_at",
    ]
    list_filter = ["is_active", "is_auto_feature"]
    search_fields = ["url", "title"]
    # Written only by polls: what happened last, and the conditional GET validators.
    readonly_fields = (
        "last_polled_at",
        "next_poll_at",
        "last_error",
        "last_error_at",
        "error_count",
        "etag",
        "last_modified",
        "created_at",
    )
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "url",
                    "title",
                    "section",
                    "is_auto_feature",
                    "poll_interval_minutes",
                    "is_active",
                ]
            },
        ),
        (_("Polling"), {"fields": readonly_fields}),
    ]
    actions = ["poll_now"]

    @admin.display(description=_("Last error"))
    def short_error(self, obj: Feed) -> str:
        return Truncator(obj.last_error).chars(80)

    def save_model(self, request: HttpRequest, obj: Feed, form: Any, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        # Only what the editor changed is written: a poll may be recording its outcome on this
        # row meanwhile, and a full save would put back the values read before it.
        changed = list(form.changed_data)
        if "url" in changed:
            # The validators belong to the old address; poll the new one at the next tick.
            obj.etag = obj.last_modified = ""
            obj.next_poll_at = None
            changed += ["etag", "last_modified", "next_poll_at"]
        if changed:
            obj.save(update_fields=changed)

    @admin.action(description=_("Poll now"), permissions=["change"])
    def poll_now(self, request: HttpRequest, queryset: QuerySet[Feed]) -> None:
        chosen = list(queryset.order_by("pk"))
        for feed in chosen[:POLL_NOW_LIMIT]:
            result = feeds.feed_poll(feed_id=feed.pk, timeout=POLL_NOW_TIMEOUT)
            audit_record(action="feed.poll", request=request, target=feed)
            level, text = _poll_message(result)
            # Translators: a feed's name, then what polling it did ("failed: …", "unchanged …").
            outcome = gettext("%(feed)s: %(outcome)s") % {"feed": feed, "outcome": text}
            self.message_user(request, outcome, level)
        left = len(chosen) - POLL_NOW_LIMIT
        if left > 0:
            self.message_user(
                request,
                gettext(
                    "%(left)d more feed(s) not polled: select at most %(most)d at a time "
                    "(beat polls every feed when it is due)."
                )
                % {"left": left, "most": POLL_NOW_LIMIT},
                messages.WARNING,
            )


def _poll_message(result: feeds.FeedPollResult) -> tuple[int, str]:
    if result.outcome == feeds.Outcome.FAILED:
        return messages.ERROR, gettext("failed: %(error)s") % {"error": result.error}
    if result.outcome == feeds.Outcome.BUSY:
        return messages.WARNING, gettext("being polled right now; try again in a minute.")
    if result.outcome == feeds.Outcome.NOT_MODIFIED:
        return messages.SUCCESS, gettext("unchanged since the last poll.")
    return messages.SUCCESS, gettext(
        "%(created)d new, %(updated)d updated, %(skipped)d skipped "
        "(no http(s) link or no headline)."
    ) % {"created": result.created, "updated": result.updated, "skipped": result.skipped}
