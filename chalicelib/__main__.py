from chalicelib.cli import main

raise SystemExit(main())
