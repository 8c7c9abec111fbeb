import sys

from ft_tui.cli import main

sys.exit(main())
