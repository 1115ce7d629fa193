import sys

from benchmarks.book import main

sys.exit(main())
