from simdesk.cli import main

raise SystemExit(main())
