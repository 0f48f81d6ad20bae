from pydantic import BaseModel, Field

from casestream.settings import ServiceSettings


class LocalUser(BaseModel):
    """A user of the embedded sign-in (no OpenID Connect provider configured)."""

    password_hash: str  # argon2id (deploy/README.md says how to make one)
    rights: list[str] = Field(default_factory=list)
    email: str | None = None
    name: str | None = None


def _local(port: int) -> str:
    return f"http://127.0.0.1:{port}"


class Settings(ServiceSettings, service="console-svc"):
    http_port: int = 8060
    # Where the console reaches each service's API (it calls them with the user's token).
    service_urls: dict[str, str] = Field(
        default_factory=lambda: {
            "case-svc": _local(8010),
            "activity-svc": _local(8020),
            "automation-svc": _local(8030),
            "notify-svc": _local(8040),
            "intake-svc": _local(8050),
        }
    )
    # Where the public reaches intake-svc's forms (links to /f/<slug>); default its API URL.
    public_intake_url: str | None = None
    # How long a call to a service may take before the page says it is not answering.
    api_timeout_s: float = 10.0

    # The embedded sign-in: users by name, and the key their access tokens are signed with
    # (a PEM EC P-256 private key; the services get its public key as JWT_PUBLIC_KEY).
    users: dict[str, LocalUser] = Field(default_factory=dict)
    signing_key: str | None = None
    # The key's id in its tokens and the JWKS: a new key needs a new id (services keep a
    # fetched key by its id).
    signing_key_id: str = "console-1"
    # How long an access token the console signs is valid (it renews it before then).
    access_token_ttl_s: int = 900

    # An OpenID Connect provider (Keycloak, ...): when its issuer is set, staff sign in there
    # (authorization code with PKCE) and the console sends the provider's access tokens on.
    oidc_issuer: str | None = None
    # The console's client at the provider (a secret for a confidential client), and the
    # scopes it asks for.
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scopes: str = "openid email profile"
    # The callback as the provider must see it (default: this request's /sign-in/callback).
    oidc_redirect_url: str | None = None

    # Sessions: a random id in an HttpOnly cookie, the rest in the console's database, so
    # signing out ends them everywhere. Secure cookies unless told otherwise (plain-HTTP
    # development on another host than localhost).
    session_ttl_s: int = 8 * 3600
    cookie_secure: bool = True
    # Failed sign-ins per user name and per client address in a quarter of an hour.
    signin_failures_per_user: int = 5
    signin_failures_per_address: int = 20
    # How many proxies in front append to X-Forwarded-For (0: the peer address is the
    # client's): the address failed sign-ins are counted by.
    trusted_proxy_hops: int = 0
