"""What an editor picks for a list's look, held to what readers can read and mail can carry."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.files import File
from django.utils.translation import gettext, gettext_lazy

DEFAULT_ACCENT = "#b3261e"
# What the accent colour must keep against white: it is the colour of links and of the button
# with white text (WCAG AA for body text).
MIN_CONTRAST = 4.5
HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def _luminance(colour: str) -> float:
    def channel(hex_pair: str) -> float:
        value = int(hex_pair, 16) / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours (1 to 21)."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def lightened_until_readable(colour: str, *, background: str) -> str:
    """`colour`, mixed with white in steps until it keeps MIN_CONTRAST on a dark `background`
    (the accent in dark mode); white at worst."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    for step in range(11):
        share = step / 10
        mixed = "#" + "".join(
            f"{round(channel + (255 - channel) * share):02x}" for channel in (red, green, blue)
        )
        if contrast_ratio(mixed, background) >= MIN_CONTRAST:
            return mixed
    return "#ffffff"


def accent_colour_validate(value: str) -> None:
    """A #rrggbb colour that white text and links on white stay readable against."""
    if not HEX_COLOUR.fullmatch(value):
        raise ValidationError(gettext_lazy("Enter a colour as #rrggbb, like #b3261e."))
    ratio = contrast_ratio(value, "#ffffff")
    if ratio < MIN_CONTRAST:
        raise ValidationError(
            gettext(
                "This colour is too light to read on white (contrast %(ratio).1f:1; at least "
                "4.5:1 is needed). Pick a darker one."
            )
            % {"ratio": ratio}
        )


LOGO_MAX_BYTES = 1024 * 1024


def logo_size_validate(value: File) -> None:  # type: ignore[type-arg]
    """A logo small enough for every reader's mail to load it quickly."""
    if value.size is not None and value.size > LOGO_MAX_BYTES:
        raise ValidationError(gettext_lazy("The logo is over 1 MB: save a smaller image."))
