"""Microsoft.Authorization/locks: management locks at subscription and resource-group scope."""
