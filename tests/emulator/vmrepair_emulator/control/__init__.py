"""Control API for tests (/_emulator/...): no ARM semantics, no authentication."""
