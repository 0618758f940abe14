"""Entra ID (Azure AD) v2.0 endpoints: OpenID configuration, client-credentials tokens, JWKS."""
