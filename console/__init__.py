"""kehu console: the pages people sign in to (docs/architecture.md §1)."""
