"""Managed-disk backing files: fixed VHDs holding an MBR and an NTFS volume (see ARCHITECTURE.md)."""
