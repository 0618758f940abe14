"""Blob storage: Azurite child process and SAS signing."""
