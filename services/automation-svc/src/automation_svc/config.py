from casestream.settings import ServiceSettings


class Settings(ServiceSettings, service="automation-svc"):
    http_port: int = 8030

    # Due actions finished per transaction, and the longest the timer worker sleeps: a
    # timer written by another replica is seen within this long of its due time.
    timer_batch_size: int = 500
    timer_poll_interval_s: float = 1.0

    # A command whose outcome has not come this long after it was sent is sent again (it, or
    # the answer, was lost: a broker that lost its data, say); looked for this often. One
    # sent this many times in all without an outcome is given up, and logged: a command its
    # receiver refuses is never answered (see redrive).
    redrive_after_s: float = 300.0
    redrive_interval_s: float = 30.0
    redrive_max_attempts: int = 6
