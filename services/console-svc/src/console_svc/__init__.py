"""console-svc: the staff console, pages rendered on the server from the five services' APIs."""
