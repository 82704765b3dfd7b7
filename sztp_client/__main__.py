"""``python -m sztp_client``: the same as the ``sztp-client`` command."""

import sys

from sztp_client.cli.main import main

sys.exit(main())
