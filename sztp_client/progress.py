"""The ``progress-type`` enumeration of ietf-sztp-bootstrap-server (RFC 8572 §7.3, R-082).

The 27 values in the module's order.  ``TERMINATING`` holds the types after which the device
abandons the bootstrap server (their descriptions say so).
"""

from __future__ import annotations

import enum


class ProgressType(enum.StrEnum):
    BOOTSTRAP_INITIATED = "bootstrap-initiated"
    PARSING_INITIATED = "parsing-initiated"
    PARSING_WARNING = "parsing-warning"
    PARSING_ERROR = "parsing-error"
    PARSING_COMPLETE = "parsing-complete"
    BOOT_IMAGE_INITIATED = "boot-image-initiated"
    BOOT_IMAGE_WARNING = "boot-image-warning"
    BOOT_IMAGE_ERROR = "boot-image-error"
    BOOT_IMAGE_MISMATCH = "boot-image-mismatch"
    BOOT_IMAGE_INSTALLED_REBOOTING = "boot-image-installed-rebooting"
    BOOT_IMAGE_COMPLETE = "boot-image-complete"
    PRE_SCRIPT_INITIATED = "pre-script-initiated"
    PRE_SCRIPT_WARNING = "pre-script-warning"
    PRE_SCRIPT_ERROR = "pre-script-error"
    PRE_SCRIPT_COMPLETE = "pre-script-complete"
    CONFIG_INITIATED = "config-initiated"
    CONFIG_WARNING = "config-warning"
    CONFIG_ERROR = "config-error"
    CONFIG_COMPLETE = "config-complete"
    POST_SCRIPT_INITIATED = "post-script-initiated"
    POST_SCRIPT_WARNING = "post-script-warning"
    POST_SCRIPT_ERROR = "post-script-error"
    POST_SCRIPT_COMPLETE = "post-script-complete"
    BOOTSTRAP_WARNING = "bootstrap-warning"
    BOOTSTRAP_ERROR = "bootstrap-error"
    BOOTSTRAP_COMPLETE = "bootstrap-complete"
    INFORMATIONAL = "informational"


TERMINATING: frozenset[ProgressType] = frozenset(
    {
        ProgressType.PARSING_ERROR,
        ProgressType.BOOT_IMAGE_ERROR,
        ProgressType.BOOT_IMAGE_INSTALLED_REBOOTING,
        ProgressType.PRE_SCRIPT_ERROR,
        ProgressType.CONFIG_ERROR,
        ProgressType.POST_SCRIPT_ERROR,
        ProgressType.BOOTSTRAP_ERROR,
        ProgressType.BOOTSTRAP_COMPLETE,
    }
)
