from __future__ import annotations

from django import forms


class OutboxSearchForm(forms.Form):
    # Long enough for any address or subject line; a longer query is a mistake, not a search.
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "size": 40,
                "id": "searchbar",
                "aria-describedby": "searchbar_helptext",
            }
        ),
        help_text="An address (To or From) or words from the subject, in any case.",
    )
