"""Local Azure + repair-VM world for testing vmrepair.azure (see ../ARCHITECTURE.md)."""
