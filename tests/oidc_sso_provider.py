"""A stand-in for a district's single sign-on (Google Workspace, Entra ID, Clever…) in the browser test.

It is a second instance of the app's own provider class with one client and a test-only rule: any
email signs in, whatever the password (the district's IdP vouches for the identity; the app must
still refuse an email that has no account). Run in the test process, in a daemon thread.
"""

from __future__ import annotations

from edtech.services.accounts import SignInError
from edtech.services.identity_provider import Client, Identity, IdentityProvider

CLIENT_ID = "sso-test-client"
CLIENT_SECRET = "sso-test-client-secret-0123456789"


def _anyone(email: str, _password: str) -> Identity:
    email = email.strip()
    if "@" not in email:
        raise SignInError("Type an email address.")
    local = email.split("@", 1)[0]
    return Identity(email=email, name=f"{local.replace('.', ' ').title()} (SSO)")


def start(redirect_uri: str) -> IdentityProvider:
    """A running test IdP that sends identities back to `redirect_uri` (the app's /oauth2callback)."""
    client = Client(CLIENT_ID, CLIENT_SECRET, redirect_uri)
    return IdentityProvider([client], _anyone, title="Test District SSO").start()


def secrets_section(provider: IdentityProvider) -> dict[str, str]:
    """What an administrator would put under `[auth.<name>]` in .streamlit/secrets.toml."""
    return {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "server_metadata_url": provider.metadata_url}
