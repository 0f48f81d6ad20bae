from casestream.settings import ServiceSettings


class Settings(ServiceSettings, service="case-svc"):
    http_port: int = 8010
    # Web form submissions take the most round trips of any message (contact keys locked,
    # looked up, a case opened): consumers of their own partitions run side by side. One
    # per partition of intake.submissions at most (more would sit idle).
    submission_workers: int = 3
    # A quotation sent without a validity date is valid for this many days.
    quotation_validity_days: int = 30
    # How often the expiry worker looks for sent quotations past their validity date (it is
    # woken at once when a manual clock moves, in tests).
    expiry_poll_interval_s: float = 60.0
