from console_tui.cli import main

raise SystemExit(main())
