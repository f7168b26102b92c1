import sys

from video_decorruptor.cli import main

sys.exit(main())
