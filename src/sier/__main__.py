from sier.cli import main

raise SystemExit(main())
