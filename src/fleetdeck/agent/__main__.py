"""``python -m fleetdeck.agent`` - same as the ``fleetdeck-agent`` script."""

import sys

from fleetdeck.agent.main import main

sys.exit(main())
