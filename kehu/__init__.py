"""The `kehu` command: runs the services and the embedded runtime (broker and database)."""
