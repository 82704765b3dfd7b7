"""What the client does with verified onboarding information: the boot image fetched and
installed, scripts run, the configuration committed, reports' contents, RFC 9646 keys.

:data:`CLEAN_PATH` is the ``PATH`` of every command the client runs (an installer, a script's
interpreter, a commit or reboot command); ``run`` checks at start-up that each configured
command is found on it.
"""

from typing import Final

#: the PATH every command the client runs gets (and the one its names are looked up on)
CLEAN_PATH: Final = "/usr/sbin:/usr/bin:/sbin:/bin"
