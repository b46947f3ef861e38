from mason.cli import main

raise SystemExit(main())
