from kehu.cli import main

raise SystemExit(main())
