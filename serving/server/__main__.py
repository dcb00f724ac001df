"""`python -m prodcat.serving.server FLAGS`: the same as `prodcat serve FLAGS`."""

from prodcat.serving.server import main

raise SystemExit(main())
