"""Microsoft.Storage/storageAccounts: the scenario's accounts, read-only through ARM (get, list, listKeys)."""
