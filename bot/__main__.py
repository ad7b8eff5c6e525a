"""``python -m bot``: the same as ``jarvis-bot``."""

import sys

from bot.app import main

sys.exit(main())
