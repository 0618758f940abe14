"""Microsoft.Resources: subscriptions, resource groups, generic resource listing."""
