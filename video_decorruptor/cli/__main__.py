"""``python -m video_decorruptor.cli`` (what ``torchrun ... -m video_decorruptor.cli`` runs)."""

import sys

from video_decorruptor.cli import main

sys.exit(main())
