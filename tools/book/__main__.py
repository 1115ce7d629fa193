import sys

from tools.book import main

sys.exit(main())
