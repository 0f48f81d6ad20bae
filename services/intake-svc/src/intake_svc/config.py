from casestream.settings import ServiceSettings


class Settings(ServiceSettings, service="intake-svc"):
    http_port: int = 8050
    # A post holds a connection only for its one statement, but that includes its commit's
    # WAL flush: under load more than 10 overlap, and a connection over the pool's size is
    # opened and closed again each time (measured: 1 post in 25 at concurrency 20 with 10,
    # 1 in 18 with 20: the posts, the relay, the consumer and the form cache overlap).
    database_pool_size: int = 32

    # Render tokens: HMAC-SHA256 over (slug, render time, the page's idempotency key), with
    # this secret (required: anyone who knows it can forge them; the local stack makes one),
    # valid this long.
    form_secret: str | None = None
    form_token_max_age_s: float = 24 * 3600
    # A post sooner than this after its page was rendered is taken for a bot.
    form_min_seconds: float = 3.0

    # Posts per client address and per form in any minute (a sliding window, approximated;
    # see rate_limits), counted in the database: every replica shares the one limit.
    rate_per_client_per_minute: int = 20
    rate_per_form_per_minute: int = 600
    # How many proxies in front of us append to X-Forwarded-For. 0: the header is ignored
    # (anyone can write it) and the client is the connection's peer address. Behind an
    # ingress or load balancer that appends it, set this to the number of such hops, or
    # every visitor counts as the proxy's address (deploy/README.md).
    trusted_proxy_hops: int = 0

    # How long a form definition read from the database serves the page and the checks of a
    # post before it is read again. A post is stored only if its definition is still current
    # (checked in the same statement), so this only bounds how long a change saved through
    # another replica takes to reach this one's pages and refusals.
    form_cache_seconds: float = 5.0

    # A submission whose outcome has not come this long after it was announced is announced
    # again (the message or its answer was lost: a broker that lost its data, say); looked
    # for this often. case-svc answers a repeat with the outcome it gave.
    redrive_after_s: float = 300.0
    redrive_interval_s: float = 30.0

    # Refused with 413 before anything is parsed.
    max_body_bytes: int = 64 * 1024
