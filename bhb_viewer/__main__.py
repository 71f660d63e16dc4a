from bhb_viewer.cli import main

raise SystemExit(main())
