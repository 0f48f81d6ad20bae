from casestream.settings import ServiceSettings


class Settings(ServiceSettings, service="activity-svc"):
    http_port: int = 8020
