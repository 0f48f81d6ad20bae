from casestream.settings import ServiceSettings


class Settings(ServiceSettings, service="case-svc"):
    http_port: int = 8010
    # Web form submissions take the most round trips of any message (contact keys locked,
    # looked up, a case opened): consumers of their own partitions run side by side. One
    # per partition of intake.submissions at most (more would sit idle).
    submission_workers: int = 3
