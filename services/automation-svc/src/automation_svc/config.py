from casestream.settings import ServiceSettings


class Settings(ServiceSettings, service="automation-svc"):
    http_port: int = 8030

    # Due actions finished per transaction, and the longest the timer worker sleeps: a
    # timer written by another replica is seen within this long of its due time.
    timer_batch_size: int = 500
    timer_poll_interval_s: float = 1.0
