"""A list's brand in its mail: masthead name and logo, accent colour, footer, postal address, and
the campaign tags on its story links. Lists left blank fall back to the site's own. The reader
pages its links open carry its masthead and accent too (brand_on_page).

Mail clients show a logo at the size the <img> says, so the brand carries the display size
(at most LOGO_MAX_WIDTH wide, in proportion), and an absolute URL, since a mail has no base.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings

from mailinglist.looks import DEFAULT_ACCENT, HEX_COLOUR, lightened_until_readable
from mailinglist.models import MailingList
from operations.site import site_name

LOGO_MAX_WIDTH = 200
# The surface mail sits on in dark mode (templates/emails/digest.html).
DARK_SURFACE = "#1e1e1e"
UTM_SOURCE = "newsletter"
UTM_MEDIUM = "email"


@dataclass(frozen=True)
class Brand:
    name: str
    logo_url: str  # "" without a logo
    logo_width: int
    logo_height: int
    logo_alt: str
    accent: str
    accent_on_dark: str  # the accent lightened to stay readable in dark mode
    footer_text: str
    postal_address: str
    utm_campaign: str  # "" leaves story links as they are


def _absolute(url: str) -> str:
    return url if urlsplit(url).scheme else f"{settings.SITE_URL}{url}"


def brand_of(mailing_list: MailingList | None) -> Brand:
    """The brand mail about `mailing_list` carries (the site's own for none)."""
    name = (mailing_list.masthead_name if mailing_list else "") or site_name()
    logo_url, width, height = "", 0, 0
    if mailing_list is not None and mailing_list.logo:
        logo_url = _absolute(mailing_list.logo.url)
        natural_width = mailing_list.logo_width or LOGO_MAX_WIDTH
        natural_height = mailing_list.logo_height or 0
        width = min(natural_width, LOGO_MAX_WIDTH)
        height = round(natural_height * width / natural_width) if natural_height else 0
    accent = (mailing_list.accent_colour if mailing_list else "") or DEFAULT_ACCENT
    if not HEX_COLOUR.fullmatch(accent):
        # The model validates it, a raw UPDATE does not; it goes into CSS, where HTML escaping
        # does not guard, and into colour arithmetic: anything but #rrggbb is the site's.
        accent = DEFAULT_ACCENT
    return Brand(
        name=name,
        logo_url=logo_url,
        logo_width=width,
        logo_height=height,
        logo_alt=(mailing_list.logo_alt if mailing_list else "") or name,
        accent=accent,
        accent_on_dark=lightened_until_readable(accent, background=DARK_SURFACE),
        footer_text=mailing_list.footer_text if mailing_list else "",
        postal_address=(mailing_list.postal_address if mailing_list else "")
        or str(settings.MAILING_ADDRESS),
        utm_campaign=mailing_list.slug if mailing_list and mailing_list.is_utm_enabled else "",
    )


def brand_on_page(*, mailing_lists: Sequence[MailingList]) -> Brand | None:
    """The brand a reader page about `mailing_lists` shows atop it; None for the site's own.

    A page speaks for one brand only if every list on it looks the same (name, logo, accent): a
    confirmation for two lists whose brands differ gets the site's masthead, not the first
    list's, since either list's alone would misname the other. The logo's URL stays as storage
    gives it (relative for the app's own media), so it loads from the host the reader is on:
    SITE_URL is for mail. The accent goes into a <style> rule: brand_of lets only #rrggbb
    through.
    """
    brands = [_page_brand(mailing_list) for mailing_list in mailing_lists]
    if not brands or any(_looks(brand) != _looks(brands[0]) for brand in brands[1:]):
        return None
    return brands[0]


def _page_brand(mailing_list: MailingList) -> Brand:
    brand = brand_of(mailing_list)
    return replace(brand, logo_url=mailing_list.logo.url if mailing_list.logo else "")


def _looks(brand: Brand) -> tuple[str, str, str, str]:
    return (brand.name, brand.logo_url, brand.logo_alt, brand.accent)


def link_tagged(url: str, *, brand: Brand) -> str:
    """A story link with the list's campaign tags added (utm_source, utm_medium, utm_campaign),
    keeping any the newsroom already put there; unchanged if the list tags nothing or the link
    is not a web link."""
    if not brand.utm_campaign:
        return url
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    wanted = {
        "utm_source": UTM_SOURCE,
        "utm_medium": UTM_MEDIUM,
        "utm_campaign": brand.utm_campaign,
    }
    query += [(key, value) for key, value in wanted.items() if key not in present]
    return urlunsplit(parts._replace(query=urlencode(query)))
