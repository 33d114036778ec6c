"""Settings for a test worker that must retry within seconds rather than minutes."""

from config.settings import *  # noqa: F403 - the real settings, with one knob turned

DELIVERY_RETRY_BASE_SECONDS = 1
